"""The LightningModule: two dropout views from one forward, the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

from lit_srl.encoder import SentenceEncoder
from lit_srl.model import SentenceEmbeddingModule


def _batch(encoder: SentenceEncoder, sentences=("a man plays a guitar .", "two dogs run in a field", "hello")):
    return dict(encoder.tokenize(list(sentences), max_length=32))


def test_two_views_differ_by_dropout_in_training_and_agree_in_eval(tiny_bert):
    module = SentenceEmbeddingModule(backbone=str(tiny_bert), pooler="cls")
    batch = _batch(module.encoder)
    assert module.training and module.encoder.backbone.training
    z1, z2 = module.two_views(batch)
    assert z1.shape == z2.shape == (3, 32)
    assert not torch.allclose(z1, z2)
    module.eval()
    with torch.no_grad():
        e1, e2 = module(batch), module(batch)
    assert torch.equal(e1, e2)


def test_learning_rate_decays_linearly_after_warmup(tiny_bert):
    module = SentenceEmbeddingModule(backbone=str(tiny_bert), lr=1e-3, warmup_steps=2)

    class _Trainer:
        estimated_stepping_batches = 10
        max_steps = 10

    module._trainer = _Trainer()  # only what total_training_steps reads
    config = module.configure_optimizers()
    scheduler = config["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        config["optimizer"].step()
        scheduler.step()
    assert lrs[0] < lrs[1] < lrs[2] and lrs[2] == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-3 / 8) and all(a > b for a, b in zip(lrs[2:], lrs[3:]))

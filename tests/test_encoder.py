"""The sentence encoder: every pooler, padding ignored, the head in training only, frozen embeddings."""

from __future__ import annotations

import pytest
import torch

from lit_srl.encoder import SentenceEncoder
from lit_srl.errors import LitSrlError


def _batch(encoder: SentenceEncoder, sentences=("a man plays a guitar .", "two dogs run in a field", "hello")):
    return dict(encoder.tokenize(list(sentences), max_length=32))


@pytest.mark.parametrize("pooler", ["cls", "cls_before_pooler", "avg", "avg_first_last"])
def test_every_pooler_embeds_a_batch(tiny_bert, pooler):
    encoder = SentenceEncoder(str(tiny_bert), pooler=pooler)
    encoder.eval()
    batch = _batch(encoder)
    with torch.no_grad():
        out = encoder(**batch)
    assert out.shape == (3, 32) and torch.isfinite(out).all()


def test_avg_pooler_ignores_padding(tiny_bert):
    encoder = SentenceEncoder(str(tiny_bert), pooler="avg").eval()
    alone = encoder.encode(["hello"])
    padded = encoder.encode(["hello", "a much longer sentence that forces padding of the first one"], batch_size=2)
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_cls_head_is_used_in_training_and_dropped_at_evaluation(tiny_bert):
    encoder = SentenceEncoder(str(tiny_bert), pooler="cls")
    assert encoder.head_kind == "mlp"
    batch = _batch(encoder)
    encoder.eval()
    with torch.no_grad():
        raw = encoder(**batch)
        headed = encoder(**batch, use_head=True)
        cls = encoder.backbone(**batch).last_hidden_state[:, 0]
    assert torch.allclose(raw, cls)
    assert torch.allclose(headed, torch.tanh(encoder.head[0](cls)))
    kept = SentenceEncoder(str(tiny_bert), pooler="cls", head_at_eval=True).eval()
    kept.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        assert torch.allclose(kept(**batch), headed)


def test_freeze_embeddings_freezes_only_the_embedding_layer(tiny_bert):
    encoder = SentenceEncoder(str(tiny_bert), pooler="cls", freeze_embeddings=True)
    frozen = {n for n, p in encoder.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith("backbone.embeddings.") for n in frozen)
    assert all(p.requires_grad for n, p in encoder.named_parameters() if n.startswith("backbone.encoder."))
    assert all(p.requires_grad for p in encoder.head.parameters())


def test_unknown_pooler_and_head_list_the_valid_ones(tiny_bert):
    with pytest.raises(LitSrlError, match="avg_first_last"):
        SentenceEncoder(str(tiny_bert), pooler="max")
    with pytest.raises(LitSrlError, match="mlp"):
        SentenceEncoder(str(tiny_bert), pooler="cls", head="deep")

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


def _train_step(module: SentenceEmbeddingModule, optimizer, batch, poison: bool = False):
    """training_step's loss (NaN if ``poison``) → backward → the skip decision → AdamW's step."""
    optimizer.zero_grad(set_to_none=True)
    z1, z2 = module.two_views(batch)
    loss = module.loss_fn(z1, z2).loss
    if poison:
        loss = loss * float("nan")
    module.nonfinite.guard_loss(loss).backward()
    found = module.nonfinite.before_step(optimizer, module.parameters())
    optimizer.step()
    return found


def _snapshot(module, optimizer) -> dict:
    state = {f"param/{k}": p.detach().clone() for k, p in module.named_parameters()}
    for i, s in enumerate(optimizer.state.values()):
        state.update({f"state{i}/{k}": v.detach().clone() for k, v in s.items()})
    return state


@pytest.mark.parametrize("fused", [True, False], ids=["fused_on_device", "unfused_host_fallback"])
def test_a_non_finite_step_changes_no_parameter_moment_or_step_count(tiny_bert, fused):
    module = SentenceEmbeddingModule(backbone=str(tiny_bert), pooler="cls", weight_decay=0.01)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=0.01, fused=fused)
    batch = _batch(module.encoder)
    assert float(_train_step(module, optimizer, batch)) == 0.0  # a clean step builds the moments
    before = _snapshot(module, optimizer)
    assert float(_train_step(module, optimizer, batch, poison=True)) == 1.0
    after = _snapshot(module, optimizer)
    assert sorted(after) == sorted(before)
    assert all(torch.equal(after[k], before[k]) for k in before), [k for k in before if not torch.equal(after[k], before[k])][:3]
    assert module.nonfinite.skipped_steps == 1 and module.nonfinite.consecutive_skips == 1
    _train_step(module, optimizer, batch)  # and a clean step after it updates again
    assert not torch.equal(_snapshot(module, optimizer)["param/encoder.head.0.weight"], before["param/encoder.head.0.weight"])
    assert module.nonfinite.consecutive_skips == 0


def test_a_finite_loss_passes_the_guard_bit_for_bit(tiny_bert):
    """The guard multiplies by exactly 1: the loss and every gradient are those of the bare loss."""
    module = SentenceEmbeddingModule(backbone=str(tiny_bert), pooler="cls")
    module.encoder.backbone.eval()  # no dropout: both passes see the same network
    batch = _batch(module.encoder)
    grads = []
    for guard in (False, True):
        module.zero_grad(set_to_none=True)
        loss = module.loss_fn(*module.two_views(batch)).loss
        (module.nonfinite.guard_loss(loss) if guard else loss).backward()
        grads.append([p.grad.clone() for p in module.parameters() if p.grad is not None])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_skip_runs_stop_at_the_limit_when_checked(tiny_bert):
    from lit_srl.errors import LitSrlError

    module = SentenceEmbeddingModule(backbone=str(tiny_bert), pooler="cls", max_consecutive_skips=2)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, fused=True)
    batch = _batch(module.encoder)
    _train_step(module, optimizer, batch, poison=True)
    assert module.nonfinite.check(step=0) == (1, [])  # one skip: below the limit
    _train_step(module, optimizer, batch)
    _train_step(module, optimizer, batch, poison=True)
    _train_step(module, optimizer, batch, poison=True)  # a run of 2, then a clean step: still found
    _train_step(module, optimizer, batch)
    with pytest.raises(LitSrlError, match=r"^2 optimizer steps in a row had a non-finite loss or gradient"):
        module.nonfinite.check(step=5)


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf"), -float("inf")])
def test_the_flag_finds_any_non_finite_gradient_of_any_dtype_and_leaves_every_gradient_as_it_was(bad):
    from lit_srl.nonfinite import non_finite_flag

    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3, generator=g, dtype=dtype)) for dtype in (torch.float32, torch.float64, torch.float32)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype) * 1e30  # large, finite
    if bad is not None:
        params[1].grad[2, 1] = bad  # in the float64 group
    before = [p.grad.clone() for p in params]
    optimizer = torch.optim.AdamW(params)
    found = non_finite_flag([p.grad for p in params], optimizer)
    assert found.dtype == torch.float32 and found.shape == () and found.item() == (0.0 if bad is None else 1.0)
    for p, grad in zip(params, before):
        assert torch.equal(p.grad.nan_to_num(), grad.nan_to_num()) and torch.equal(p.grad.isnan(), grad.isnan())
    assert non_finite_flag([], optimizer).item() == 0.0

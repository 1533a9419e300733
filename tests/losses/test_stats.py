"""lit_srl.losses.stats: the statistics a loss reports (``LossOutput.stats`` and ``.details``),
the one producer of what the gradient monitor logs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lit_srl.losses import InfoNCE, available_losses, build_loss

CONTRASTIVE = ("infonce", "arccon", "mpt", "met", "assembled", "sg")


def batch(n: int = 16, d: int = 24, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=dtype)
    return z1, z1 + 0.7 * torch.randn(n, d, generator=g, dtype=dtype)


def direct(z1, z2) -> dict[str, torch.Tensor]:
    """The statistics written out with explicit masks, view 0 against view 1."""
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    n = u.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    s = u @ v.T
    sq = ((u[:, None] - u[None]) ** 2).sum(-1)
    return {
        "cos_pos_mean": s.diag().mean(),
        "cos_neg_mean": s[~eye].mean(),
        "cos_neg_max_mean": s.masked_fill(eye, -math.inf).max(1).values.mean(),
        "alignment": ((u - v) ** 2).sum(1).mean(),
        "uniformity_exp": torch.exp(-2 * sq[~eye]).mean(),
        "cos_pos": s.diag(),
        "cos_neg": s[~eye],
    }


@pytest.mark.parametrize("name", available_losses())
def test_cosine_statistics_alignment_and_uniformity_follow_their_definitions(name):
    z1, z2 = batch()
    out = build_loss(name)(z1, z2)
    want = direct(z1, z2)
    got = {**out.stats, **out.details.means(), **out.details.samples()}
    for key in ("cos_pos_mean", "cos_neg_mean", "cos_neg_max_mean", "alignment", "uniformity_exp", "cos_pos", "cos_neg"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-12, atol=1e-12, msg=key)


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_component_statistics_are_those_of_the_loss_components(name):
    z1, z2 = batch(seed=1)
    loss = build_loss(name)
    out = loss(z1, z2)
    c = loss.components(z1, z2)
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    hardest = (u @ v.T).masked_fill(torch.eye(16, dtype=torch.bool), -math.inf).argmax(1)
    share = c.weight[torch.arange(16), hardest] / c.weight.sum(1)
    torch.testing.assert_close(out.stats["gd_mean"], c.gd.mean())
    torch.testing.assert_close(out.stats["w_hardest"], share.mean())
    torch.testing.assert_close(out.stats["ratio_mean"], c.ratio.mean())
    torch.testing.assert_close(out.details.samples()["gd"], c.gd)


def test_losses_without_analytic_components_give_no_gd_samples():
    z1, z2 = batch()
    for name in ("barlowtwins", "vicreg_mod", "mhe_mod", "mhs"):
        samples = build_loss(name)(z1, z2).details.samples()
        assert set(samples) == {"cos_pos", "cos_neg"}, name


def test_symmetric_losses_report_the_view0_direction():
    """Stats and details describe the direction of ``components()``, also when the loss averages both."""
    z1, z2 = batch(seed=2)
    one, both = InfoNCE()(z1, z2), InfoNCE(symmetric=True)(z1, z2)
    assert not torch.allclose(one.loss, both.loss)
    for key, value in one.stats.items():
        torch.testing.assert_close(both.stats[key], value, msg=key)
    torch.testing.assert_close(both.details.samples()["gd"], one.details.samples()["gd"])


def test_statistics_are_detached_and_float32_for_low_precision_inputs():
    z1, z2 = batch(dtype=torch.float32)
    z1.requires_grad_(True)
    out = build_loss("sg")(z1.bfloat16(), z2.bfloat16())
    values = [*out.stats.values(), *out.details.means().values(), *out.details.samples().values()]
    assert all(not v.requires_grad and v.dtype == torch.float32 for v in values)


class CountTorchCalls(torch.overrides.TorchFunctionMode):
    """Counts the torch functions and tensor methods called inside it."""

    def __enter__(self):
        self.calls = 0
        return super().__enter__()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", available_losses())
def test_stats_are_computed_when_read_and_equal_what_the_batch_gives(name):
    """A training step that logs nothing reads no statistics, so the forward must not compute them
    (each is a few small kernels a GPU step would wait for the host to launch)."""
    z1, z2 = batch()
    loss = build_loss(name)
    out = loss(z1.requires_grad_(), z2.requires_grad_())
    out.loss.backward()
    with CountTorchCalls() as reading:
        stats = dict(out.stats)
    assert reading.calls > 0  # computed here, not in the forward
    with CountTorchCalls() as again:
        assert dict(out.stats) == stats
    assert again.calls == 0  # once
    with torch.no_grad():
        eager = build_loss(name)(z1, z2).stats
        assert {k: v.item() for k, v in stats.items()} == pytest.approx({k: v.item() for k, v in eager.items()}, rel=1e-12)
    direct_stats = direct(z1, z2)
    assert stats["cos_pos_mean"].item() == pytest.approx(direct_stats["cos_pos_mean"].item(), rel=1e-12)

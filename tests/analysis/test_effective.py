"""The effective-component analyzer reads GD, W, R off autograd (lit_srl.analysis.effective)."""

from __future__ import annotations

import math

import pytest
import torch

from lit_srl.analysis.effective import effective_components, max_anchors, min_dimension
from lit_srl.losses import build_loss

N, D = 8, 32


def views(noise: float = 0.8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two float64 views of N random sentences; noise 0.8 gives InfoNCE GDs from ~0 to 0.2 and
    both gate states for MPT and MET."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(N, D, generator=g, dtype=torch.float64)
    return (
        base + noise * torch.randn(N, D, generator=g, dtype=torch.float64),
        base + noise * torch.randn(N, D, generator=g, dtype=torch.float64),
    )


def clustered_views(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """4 clusters of 2 sentences sharing a common direction: every in-view cosine is positive and
    each sentence has a close in-view neighbour (cos ≈ 0.9 > 1 − m), so the mod losses' gates pass."""
    g = torch.Generator().manual_seed(seed)
    common = torch.randn(D, generator=g, dtype=torch.float64)
    centres = torch.randn(4, D, generator=g, dtype=torch.float64).repeat_interleave(2, 0)
    x = 0.8 * common + centres + 0.35 * torch.randn(N, D, generator=g, dtype=torch.float64)
    return (
        x + 0.15 * torch.randn(N, D, generator=g, dtype=torch.float64),
        x + 0.15 * torch.randn(N, D, generator=g, dtype=torch.float64),
    )


@pytest.mark.parametrize("name", ["infonce", "arccon", "mpt", "met"])
def test_effective_components_reproduce_the_closed_form_of_the_contrastive_losses(name):
    z1, z2 = views()
    loss = build_loss(name)
    analytic = loss.components(z1, z2)
    eff = effective_components(loss, z1, z2)
    mass = analytic.weight.sum(dim=1)  # 1, except MET's 1/d_ij*
    # GD_eff = c · GD · Σ_j W_ij for every anchor (0 where a hinge is inactive).
    torch.testing.assert_close(eff.gd, analytic.constant * analytic.gd * mass, atol=1e-6, rtol=0)
    on = analytic.gd > 0.5 if name in ("mpt", "met") else torch.ones(N, dtype=torch.bool)
    if name in ("mpt", "met"):
        assert 0 < int(on.sum()) < N  # the batch exercises both gate states
        assert torch.equal(eff.defined, on)
    torch.testing.assert_close(eff.weight[on], (analytic.weight / mass[:, None])[on], atol=1e-6, rtol=0)
    torch.testing.assert_close(eff.ratio[on], analytic.ratio[on], atol=1e-6, rtol=0)
    assert float(eff.residual[on].max()) < 1e-6 and float(eff.in_view_share[on].max()) < 1e-6
    assert eff.loss_gap < 1e-12  # the loss normalises: unit inputs leave its value unchanged


def test_normalize_constant_turns_infonce_gd_eff_into_its_gd():
    z1, z2 = views()
    loss = build_loss("infonce", temperature=0.05)
    gd = loss.components(z1, z2).gd
    torch.testing.assert_close(effective_components(loss, z1, z2, normalize_constant=True).gd, gd, atol=1e-6, rtol=0)
    torch.testing.assert_close(effective_components(loss, z1, z2, normalize_constant=20.0).gd, gd, atol=1e-6, rtol=0)
    torch.testing.assert_close(effective_components(loss, z1, z2).gd, gd / 0.05, atol=1e-6, rtol=0)


def test_without_in_view_terms_the_fit_needs_only_d_above_n():
    z1, z2 = views()
    loss = build_loss("arccon")
    small1, small2 = z1[:, : N + 1], z2[:, : N + 1]
    eff = effective_components(loss, small1, small2, in_view=False)
    analytic = loss.components(small1, small2)
    torch.testing.assert_close(eff.ratio, analytic.ratio, atol=1e-6, rtol=0)
    assert torch.all(eff.in_view == 0)


def test_the_fit_refuses_a_basis_that_cannot_be_independent():
    z1, z2 = views()
    assert min_dimension(N) == 2 * N and max_anchors(D) == D // 2
    with pytest.raises(ValueError, match="D ≥ 16"):
        effective_components(build_loss("infonce"), z1[:, :15], z2[:, :15])


@pytest.mark.parametrize("name", ["barlowtwins", "vicreg"])
def test_mod_concentrates_the_weights_and_raises_the_ratio_of_second_moment_losses(name):
    """Measured, not assumed: on the clustered batch the ori weights are spread (linear in the
    similarities, max share ≈ 0.28) and the mod weights are near one-hot on the in-view
    neighbour (exp(s/τ), τ = 0.05, share > 0.99); mod's explicit ratio r = 1.5 acts in both
    directions (R ≈ 3), ori's pull is weak (R < 0.2)."""
    z1, z2 = clustered_views()
    ori = effective_components(build_loss(name), z1, z2)
    mod = effective_components(build_loss(f"{name}_mod"), z1, z2)
    for eff in (ori, mod):
        assert bool(eff.defined.all())
        assert all(math.isfinite(v) for v in eff.summary().values())
    s_ori, s_mod = ori.summary(), mod.summary()
    assert s_ori["w_hardest"] < 0.5 < 0.99 < s_mod["w_hardest"]
    assert s_ori["ratio_mean"] < 0.2 and 2.5 < s_mod["ratio_mean"] < 3.5
    assert s_mod["residual"] < 1e-6  # mod's gradient is exactly of the paradigm's form


def test_barlow_twins_ori_leaves_a_part_the_paradigm_cannot_express():
    """Its diagonal term Σ_k (1 − C_kk)² acts coordinate-wise, outside span{u_j, v_j}."""
    z1, z2 = clustered_views()
    assert effective_components(build_loss("barlowtwins"), z1, z2).summary()["residual"] > 0.05
    assert effective_components(build_loss("vicreg"), z1, z2).summary()["residual"] < 1e-6

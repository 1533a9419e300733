"""lit_srl.losses.components: the GD/W/R functions and the choice tables of the assembled loss."""

from __future__ import annotations

import math

import pytest
import torch

from lit_srl.analysis.simulate import SampledAnchors
from lit_srl.losses import AssembledLoss
from lit_srl.losses import components as comp


def test_assembled_choices_are_the_table_keys_in_order():
    for argument, table in (("gd", comp.GD), ("weight", comp.WEIGHT), ("ratio", comp.RATIO)):
        for name in table:
            assert getattr(AssembledLoss(**{argument: name}), argument) == name
        with pytest.raises(ValueError, match=", ".join(table)):
            AssembledLoss(**{argument: "unknown"})


def test_a_new_table_entry_is_a_new_choice(monkeypatch):
    """One function and one entry: the loss takes it, with the paradigm gradient of its GD."""
    monkeypatch.setitem(comp.GD, "half", lambda sims, cfg: torch.full_like(sims.s_pos, 0.5))
    z1, z2 = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    half, none = AssembledLoss(gd="half"), AssembledLoss(gd="none")
    torch.testing.assert_close(half(z1, z2).loss, none(z1, z2).loss / 2)
    assert half.components(z1, z2).gd.eq(0.5).all()


def test_simulated_anchors_and_a_cosine_matrix_give_the_same_gd_and_r():
    """The simulations' angle batches go through the same component functions as the losses."""
    g = torch.Generator().manual_seed(0)
    theta_pos = 0.2 + 1.2 * torch.rand(32, generator=g, dtype=torch.float64)
    theta_neg = 0.1 + 2.5 * torch.rand(32, 15, generator=g, dtype=torch.float64)
    s = torch.cat([torch.cos(theta_pos)[:, None], torch.cos(theta_neg)], dim=1)  # positive in column 0
    matrix = comp.PairSims(s, torch.zeros(32, dtype=torch.long))
    sampled = SampledAnchors(theta_pos, theta_neg.clone())
    t, u = 0.05, math.pi / 18
    for f in (
        lambda x: comp.gd_infonce(x, t),
        lambda x: comp.gd_arccon(x, t, u),
        lambda x: comp.gd_gate(x, 0.23),
        lambda x: comp.gd_gate_euclidean(x, 0.45),
        lambda x: comp.ratio_arccon(x, u),
        comp.ratio_met,
    ):
        torch.testing.assert_close(f(sampled), f(matrix), rtol=1e-12, atol=1e-12)

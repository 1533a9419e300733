"""``simulate``: the §3.1 simulations of the paper (lit_srl.analysis.simulate)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from lit_srl.analysis import simulate as sim
from lit_srl.errors import LitSrlError

GRID, BATCHES, BATCH = 4, 12, 16


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("simulation")
    args = ["--output", str(out), "--grid", str(GRID), "--batches", str(BATCHES), "--batch-size", str(BATCH), "--seed", "7"]
    assert sim.main(args) == 0
    return out


def direct_gd(mu_pos: float, mu_neg: float, seed: int) -> dict[str, float]:
    """The closed forms, evaluated with explicit sums in float64 on the same sampled angles."""
    pos, neg = sim.sample_angles(mu_pos, mu_neg, BATCHES, BATCH, 0.05, 0.10, seed)
    pos, neg = pos.double().numpy(), neg.double().numpy()
    t, u = 0.05, math.pi / 18
    den = np.exp(np.cos(neg) / t).sum(axis=1)
    d_pos, d_neg = np.sqrt(2 - 2 * np.cos(pos)), np.sqrt(2 - 2 * np.cos(neg))
    return {
        "infonce": float(np.mean(1 / (1 + np.exp(np.cos(pos) / t) / den))),
        "arccon": float(np.mean(1 / (1 + np.exp(np.cos(pos + u) / t) / den))),
        "mpt": float(np.mean(np.cos(pos) - np.cos(neg).max(axis=1) < 0.23)),
        "met": float(np.mean(d_neg.min(axis=1) - d_pos < 0.45)),
    }


def test_gd_grid_matches_the_closed_form_on_the_sampled_angles(small_run):
    rows = read_csv(small_run / "gd.csv")
    assert len(rows) == 4 * GRID * GRID
    table = {(r["loss"], float(r["mu_pos_rad"]), float(r["mu_neg_rad"])): float(r["gd_mean"]) for r in rows}
    mu_pos, mu_neg = sim.grid_axes(sim.SimulationConfig(grid=GRID))
    for i, j in [(0, 0), (0, 2), (1, 1), (3, 1), (2, 3)]:
        expected = direct_gd(mu_pos[i], mu_neg[j], sim.point_seed(7, 1, i * GRID + j))
        for loss, value in expected.items():
            got = table[(loss, round(mu_pos[i], 6), round(mu_neg[j], 6))]
            assert got == pytest.approx(value, abs=2e-5), (loss, i, j)


def test_gd_is_one_when_negatives_are_closer_and_zero_when_far():
    cfg = sim.SimulationConfig(grid=3, batches=64, batch_size=32, seed=1)
    gd = sim.simulate_gd(cfg)  # [i_pos, i_neg]: (0.05π…0.5π) × (0.05π…π)
    for loss in sim.LOSSES:
        assert gd[loss][2, 0] > 0.99  # positive at 0.5π, negatives at 0.05π
        assert gd[loss][0, 2] < 0.01  # positive at 0.05π, negatives at π


def test_results_do_not_depend_on_the_chunking():
    cfg = sim.SimulationConfig(grid=3, batches=10, batch_size=8, seed=3)
    tiny = sim.SimulationConfig(grid=3, batches=10, batch_size=8, seed=3, chunk_mb=1e-6)  # one point per chunk
    # Same angles; only float32 rounding of differently shaped kernels may differ.
    for loss, values in sim.simulate_gd(cfg).items():
        np.testing.assert_allclose(values, sim.simulate_gd(tiny)[loss], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sim.simulate_weight(cfg), sim.simulate_weight(tiny), rtol=1e-5, atol=1e-7)


def test_weight_curve_is_the_mean_hardest_share_over_batches_passing_the_gd_filter(small_run):
    rows = read_csv(small_run / "weight.csv")
    assert len(rows) == len(sim.TEMPERATURES) * GRID
    cfg = sim.SimulationConfig(grid=GRID)
    mu_neg = np.linspace(*cfg.weight_neg_range, GRID)
    k = 1
    pos, neg = sim.sample_angles(0.5, mu_neg[k], BATCHES, BATCH, 0.05, 0.10, sim.point_seed(7, 2, k))
    pos, neg = pos.double().numpy(), neg.double().numpy()
    for t in sim.TEMPERATURES:
        logits = np.cos(neg) / t
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        share = e.max(axis=1) / e.sum(axis=1)
        gd = 1 / (1 + np.exp(np.cos(pos) / t - logits.max(axis=1)) / e.sum(axis=1))
        keep = gd >= 0.01
        row = next(r for r in rows if float(r["temperature"]) == t and float(r["mu_neg_rad"]) == round(mu_neg[k], 6))
        if keep.any():
            assert float(row["w_hardest"]) == pytest.approx(share[keep].mean(), abs=2e-5)
        else:
            assert row["w_hardest"] == "nan"


def test_ratio_maps_follow_the_formulas_and_mask_where_the_positive_is_farther(small_run):
    rows = read_csv(small_run / "ratio.csv")
    assert {r["loss"] for r in rows} == {"arccon", "met"} and len(rows) == 2 * GRID * GRID
    for r in rows:
        tii, tij, value = float(r["theta_pos_rad"]), float(r["theta_neg_rad"]), float(r["ratio"])
        if r["loss"] == "arccon":
            assert value == pytest.approx(math.sin(tii + math.pi / 18) / math.sin(tii), rel=1e-5)
        else:
            assert value == pytest.approx(math.sqrt(2 - 2 * math.cos(tij)) / math.sqrt(2 - 2 * math.cos(tii)), rel=1e-5)
        if tii > tij:
            assert r["masked"] == "1" and r["mask_reason"] == "pos_farther"


def test_every_figure_has_a_nonempty_csv_and_png(small_run):
    for figure in sim.FIGURES:
        assert len(read_csv(small_run / f"{figure}.csv")) >= GRID, figure
        png = (small_run / f"{figure}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, figure


def test_simulate_refuses_to_overwrite_without_the_flag(small_run):
    args = ["--output", str(small_run), "--grid", "2", "--batches", "2", "--batch-size", "4", "--figures", "ratio"]
    with pytest.raises(LitSrlError, match="--overwrite"):
        sim.main(args)
    assert sim.main([*args, "--overwrite"]) == 0


def test_simulate_rejects_an_unknown_figure(tmp_path):
    with pytest.raises(LitSrlError, match="gd,weight,ratio"):
        sim.main(["--output", str(tmp_path), "--figures", "gd,heat"])

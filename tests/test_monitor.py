"""GradientComponentMonitor and EffectiveComponentMonitor (callbacks/), on real fits and alone."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import fit_args, read_scalars, run_cli
from lit_srl.callbacks.gradient_monitor import batch_statistics
from lit_srl.losses import build_loss

GRAD_TAGS = ("grad/gd_mean", "grad/w_hardest", "grad/ratio_mean")
COS_TAGS = ("cos/pos_mean", "cos/neg_mean", "cos/neg_max_mean", "cos/alignment", "cos/uniformity")
EFF_TAGS = tuple(f"grad_eff/{k}" for k in ("gd_mean", "w_hardest", "ratio_mean", "residual", "in_view_share"))
STEPS = 6


@pytest.fixture(scope="session")
def monitored_run(tmp_path_factory, tiny_bert, data_dir):
    """A 6-step fit of the tiny BERT (batch 8) with both monitors: every step, effective every 2."""
    root = tmp_path_factory.mktemp("monitored")
    args = fit_args(
        root, str(tiny_bert), "--model.pooler=cls", f"--data.data_dir={data_dir}",
        # the quickstart recipe already carries the GradientComponentMonitor (every logging step)
        "--trainer.callbacks+=lit_srl.callbacks.effective_components.EffectiveComponentMonitor",
        "--trainer.callbacks.init_args.every_n_steps=2",
        steps=STEPS,
    )
    assert run_cli(args) == 0
    return root


def histograms(root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for path in root.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(path), size_guidance={"histograms": 0})
        acc.Reload()
        for tag in acc.Tags()["histograms"]:
            out.setdefault(tag, []).extend(acc.Histograms(tag))
    return out


def test_monitor_writes_components_and_cosine_scalars_every_step(monitored_run):
    scalars = read_scalars(monitored_run)
    for tag in GRAD_TAGS + COS_TAGS:
        assert [s for s, _ in scalars.get(tag, [])] == list(range(STEPS)), tag
        assert all(math.isfinite(v) for _, v in scalars[tag]), tag
    assert all(0 <= v <= 1 for _, v in scalars["grad/gd_mean"] + scalars["grad/w_hardest"])
    assert all(v == pytest.approx(1.0) for _, v in scalars["grad/ratio_mean"])  # InfoNCE: R = 1
    assert all(0 <= v <= 4 for _, v in scalars["cos/alignment"])
    assert all(-4 <= v <= 0 for _, v in scalars["cos/uniformity"])


def test_monitor_writes_cosine_and_gd_histograms(monitored_run):
    hists = histograms(monitored_run)
    batch = 8
    for tag, count in (("cos/pos", batch), ("cos/neg", batch * (batch - 1)), ("grad/gd", batch)):
        assert [e.step for e in hists[tag]] == list(range(STEPS)), tag
        assert all(e.histogram_value.num == count for e in hists[tag]), tag
        assert all(sum(e.histogram_value.bucket) == count for e in hists[tag]), tag


def test_effective_monitor_logs_only_at_its_interval(monitored_run):
    scalars = read_scalars(monitored_run)
    for tag in EFF_TAGS:
        assert [s for s, _ in scalars[tag]] == [1, 3, 5], tag
    # Batch 8 ≤ H/2 = 16: the sub-batch is the whole batch, and for InfoNCE (normalised by c)
    # the measured components are the analytic ones logged at the same steps.
    for key in ("gd_mean", "w_hardest", "ratio_mean"):
        eff = dict(scalars[f"grad_eff/{key}"])
        analytic = dict(scalars[f"grad/{key}"])
        for step, value in eff.items():
            assert value == pytest.approx(analytic[step], abs=1e-5), (key, step)
    assert all(v < 1e-4 for _, v in scalars["grad_eff/residual"])


def test_batch_statistics_agree_with_the_loss_own_statistics():
    torch.manual_seed(0)
    z1, z2 = torch.randn(16, 24), torch.randn(16, 24)
    z2 = z1 + 0.7 * z2
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    pos = torch.arange(16)
    for name in ("infonce", "arccon", "mpt", "met"):
        loss = build_loss(name)
        stats = loss(z1, z2).stats
        means, samples = batch_statistics(u, v, u, pos, loss)
        for key in ("gd_mean", "w_hardest", "ratio_mean"):
            assert float(means[f"grad/{key}"]) == pytest.approx(float(stats[key]), abs=1e-5), (name, key)
        for key in ("pos_mean", "neg_mean", "neg_max_mean"):
            assert float(means[f"cos/{key}"]) == pytest.approx(float(stats[f"cos_{key}"]), abs=1e-5), (name, key)
        assert samples["cos/neg"].numel() == 16 * 15 and samples["grad/gd"].shape == (16,)


def test_alignment_and_uniformity_follow_wang_and_isola():
    torch.manual_seed(1)
    u, v = F.normalize(torch.randn(10, 8, dtype=torch.float64), dim=-1), F.normalize(torch.randn(10, 8, dtype=torch.float64), dim=-1)
    means, _ = batch_statistics(u, v, u, torch.arange(10))
    align = sum(float((u[i] - v[i]).norm() ** 2) for i in range(10)) / 10
    pairs = [math.exp(-2 * float((u[i] - u[j]).norm() ** 2)) for i in range(10) for j in range(10) if i < j]
    assert float(means["cos/alignment"]) == pytest.approx(align, rel=1e-9)
    assert math.log(float(means["cos/uniformity_exp"])) == pytest.approx(math.log(sum(pairs) / len(pairs)), rel=1e-9)


def test_losses_without_components_fall_back_to_their_statistics():
    torch.manual_seed(2)
    z1 = torch.randn(8, 16)
    z2 = z1 + 0.3 * torch.randn(8, 16)
    loss = build_loss("vicreg_mod")
    stats = loss(z1, z2).stats
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    means, samples = batch_statistics(u, v, u, torch.arange(8), loss, stats)
    for key in ("gd_mean", "w_hardest", "ratio_mean"):
        if key in stats:
            assert float(means[f"grad/{key}"]) == pytest.approx(float(stats[key]))
    assert "grad/gd" not in samples


@pytest.mark.ddp
def test_monitors_reduce_over_two_gloo_ranks_before_rank_zero_logs(tmp_path, tiny_bert, data_dir):
    """2 processes × 8 sentences: the histograms count the global batch of 16 (each rank's anchors
    against all 16 columns), the scalars are written once, by rank 0, at every step."""
    from test_ddp_fit import DDP, run_module

    args = fit_args(
        tmp_path, str(tiny_bert), "--model.pooler=cls", f"--data.data_dir={data_dir}",
        "--trainer.devices=2", "--trainer.accelerator=cpu",
        # the quickstart recipe already carries the GradientComponentMonitor (every logging step)
        "--trainer.callbacks+=lit_srl.callbacks.effective_components.EffectiveComponentMonitor",
        "--trainer.callbacks.init_args.every_n_steps=2",
        steps=4, val_every=2, batch=8, configs=DDP,
    )
    run_module(args, cwd=tmp_path)
    scalars = read_scalars(tmp_path)
    for tag in GRAD_TAGS + COS_TAGS:
        assert [s for s, _ in scalars[tag]] == [0, 1, 2, 3], tag
        assert all(math.isfinite(v) for _, v in scalars[tag]), tag
    for tag in EFF_TAGS:
        assert [s for s, _ in scalars[tag]] == [1, 3], tag
    hists = histograms(tmp_path)
    for tag, count in (("cos/pos", 16), ("cos/neg", 16 * 15), ("grad/gd", 16)):
        assert [e.histogram_value.num for e in hists[tag]] == [count] * 4, tag


def test_rank_statistics_averaged_over_ranks_equal_the_global_batch():
    """The DDP layout (local rows, global columns, positives at rank·n + i) reduced by the mean
    over ranks gives the single-process statistics of the concatenated batch."""
    torch.manual_seed(3)
    z1 = torch.randn(16, 24, dtype=torch.float64)
    z2 = z1 + 0.6 * torch.randn(16, 24, dtype=torch.float64)
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    loss = build_loss("arccon")
    whole, _ = batch_statistics(u, v, u, torch.arange(16), loss)
    ranks = [batch_statistics(u[r * 8 : (r + 1) * 8], v, u, torch.arange(8) + r * 8, loss)[0] for r in range(2)]
    for key, value in whole.items():
        assert float(sum(part[key] for part in ranks) / 2) == pytest.approx(float(value), rel=1e-12), key

"""GradientComponentMonitor and EffectiveComponentMonitor (callbacks/), on real fits and alone."""

from __future__ import annotations

import math

import pytest
import torch

from support.helpers import fit_args, read_scalars
from lit_srl.callbacks.gradient_monitor import GradientComponentMonitor
from lit_srl.losses import build_loss
from lit_srl.metric_names import LOSS_STATS

GRAD_TAGS = ("grad/gd_mean", "grad/w_hardest", "grad/ratio_mean")
COS_TAGS = ("cos/pos_mean", "cos/neg_mean", "cos/neg_max_mean", "cos/alignment", "cos/uniformity")
EFF_TAGS = tuple(f"grad_eff/{k}" for k in ("gd_mean", "w_hardest", "ratio_mean", "residual", "in_view_share"))
STEPS = 6  # monitored_run (conftest.py): a 6-step fit


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


class _Logger:
    """A logger that keeps what it is given: scalars by step and raw histograms."""

    def __init__(self) -> None:
        self.scalars: dict[int, dict[str, float]] = {}
        self.histograms: dict[str, dict] = {}
        self.experiment = self

    def log_metrics(self, metrics, step):
        self.scalars.setdefault(step, {}).update(metrics)

    def add_histogram_raw(self, tag, global_step, **fields):
        self.histograms[tag] = dict(fields, step=global_step)


class _Trainer:
    """What the monitors read of a one-process trainer."""

    def __init__(self, log_every_n_steps: int = 1) -> None:
        self.is_global_zero = True
        self.loggers = [_Logger()]
        self.log_every_n_steps = log_every_n_steps
        self.global_step = 0


def _step(monitor, trainer, outputs, module=None) -> None:
    """One optimizer step as Lightning calls the hooks: before the step, then the batch's end."""
    monitor.on_before_optimizer_step(trainer, module, None)
    trainer.global_step += 1
    monitor.on_train_batch_end(trainer, module, outputs, None, 0)


def _outputs(loss, z1, z2) -> dict:
    out = loss(z1, z2)
    return {"loss": out.loss.detach(), "stats": out.stats, "details": out.details, "views": (z1, z2)}


@pytest.mark.parametrize("name", ["infonce", "met", "sg", "vicreg", "mhe_mod"])
def test_monitor_logs_exactly_what_the_loss_produced(name):
    torch.manual_seed(0)
    z1 = torch.randn(16, 24)
    z2 = z1 + 0.7 * torch.randn(16, 24)
    outputs = _outputs(build_loss(name), z1, z2)
    trainer = _Trainer()
    monitor = GradientComponentMonitor()
    monitor.setup(trainer, None, "fit")
    _step(monitor, trainer, outputs)
    logger = trainer.loggers[0]
    means = outputs["details"].means()
    want = {LOSS_STATS[k]: float(v) for k, v in outputs["stats"].items()}
    want |= {"cos/alignment": float(means["alignment"]), "cos/uniformity": math.log(float(means["uniformity_exp"]))}
    assert logger.scalars.keys() == {0}  # the step Lightning gives the batch's train/loss
    assert logger.scalars[0] == pytest.approx(want, rel=1e-6)
    samples = outputs["details"].samples()
    assert {LOSS_STATS[k] for k in samples} == set(logger.histograms)
    for key, x in samples.items():
        hist = logger.histograms[LOSS_STATS[key]]
        assert hist["num"] == x.numel() == sum(hist["bucket_counts"]) and hist["step"] == 0
        assert hist["min"] == pytest.approx(float(x.min())) and hist["sum"] == pytest.approx(float(x.sum()), rel=1e-5)
    assert ("grad/gd" in logger.histograms) == (name in ("infonce", "met", "sg"))  # only analytic GD


def test_monitor_measures_only_at_its_interval_and_never_asks_for_details_in_between():
    class CountingDetails:
        def __init__(self, details):
            self.details, self.calls = details, 0

        def means(self):
            self.calls += 1
            return self.details.means()

        def masked_samples(self):
            return self.details.masked_samples()

    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    outputs = _outputs(build_loss("infonce"), z1, z2)
    outputs["details"] = counting = CountingDetails(outputs["details"])
    trainer = _Trainer(log_every_n_steps=3)
    monitor = GradientComponentMonitor()
    monitor.setup(trainer, None, "fit")
    for _ in range(7):
        _step(monitor, trainer, outputs)
    assert sorted(trainer.loggers[0].scalars) == [2, 5] and counting.calls == 2


def test_monitor_warns_once_and_logs_nothing_without_the_loss_statistics():
    trainer = _Trainer()
    monitor = GradientComponentMonitor()
    monitor.setup(trainer, None, "fit")
    with pytest.warns(UserWarning, match="returned no stats") as record:
        _step(monitor, trainer, {"loss": torch.tensor(1.0)})
        _step(monitor, trainer, {"loss": torch.tensor(1.0)})
    assert sum("returned no stats" in str(w.message) for w in record) == 1
    assert trainer.loggers[0].scalars == {}


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

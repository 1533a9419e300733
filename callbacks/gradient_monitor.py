"""Gradient components and cosine statistics of the training batch, logged while training.

Li, Zhang & Nie (ACL 2024) write the gradient of a contrastive loss at the anchor u_i as
c·GD_i·Σ_{j≠i} W_ij (v_j − R_i v_i) (u_i = h_i/‖h_i‖ view 0, v_j = h'_j/‖h'_j‖ view 1).
:class:`GradientComponentMonitor` logs these components for the last training batch, the cosine
statistics behind them (the paper's Figure 5) and the alignment/uniformity of Wang & Isola (2020),
as the loss computed them (:mod:`lit_srl.losses.stats`): the loss is their one producer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Optional

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from lit_srl import metric_names as names
from lit_srl.host_readout import read_on_host
from lit_srl.losses.distributed import stack_over_ranks

#: Histogram bins: cosines on [−1, 1], GD on [0, 1].
COS_BINS = 80
GD_BINS = 50
#: histogram name (a key of ``StatDetails.samples()``) → (low, high, bins)
HISTOGRAMS = {"cos_pos": (-1.0, 1.0, COS_BINS), "cos_neg": (-1.0, 1.0, COS_BINS), "gd": (0.0, 1.0, GD_BINS)}
#: histogram name → its bucket limits (right edges, and the left edge first)
BUCKET_LIMITS = {key: torch.linspace(lo, hi, bins + 1, dtype=torch.float64).tolist() for key, (lo, hi, bins) in HISTOGRAMS.items()}


class IntervalCallback(L.Callback):
    """Runs :meth:`measure` on the outputs of the training step of every ``every_n_steps``-th
    optimizer step.

    A step is due when (global_step + 1) % every_n_steps == 0 at ``on_before_optimizer_step``
    (once per optimizer step, after gradient accumulation, on every rank) — the steps at which
    Lightning itself writes its on-step metrics when the interval equals
    ``trainer.log_every_n_steps``. The measurement runs in the ``on_train_batch_end`` that follows,
    on the step's last micro-batch's ``outputs`` (what ``training_step`` returned), and is written
    at the step Lightning gives the same batch's ``train/loss``.

    Scalars are written by rank 0 to every Lightning logger with ``logger.log_metrics`` (as
    Lightning's LearningRateMonitor does), after the statistics were reduced over ranks.
    ``pl_module.log`` is not used: it re-emits the last value at every later logging step, so a
    measurement taken every 50 steps would appear, stale, at the steps in between.
    """

    #: the keys of ``outputs`` that :meth:`measure` reads
    needs: tuple[str, ...] = ()

    def __init__(self, every_n_steps: Optional[int] = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}; valid: a positive int or None")
        self.every_n_steps = every_n_steps
        self._every: Optional[int] = None
        self._due_step: Optional[int] = None
        self._warned_outputs = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._every = self.every_n_steps or trainer.log_every_n_steps or None
        if self._every is None:
            rank_zero_warn(f"{type(self).__name__}: trainer.log_every_n_steps is 0 and no interval was given; nothing is logged")

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        due = self._every is not None and (trainer.global_step + 1) % self._every == 0
        self._due_step = trainer.global_step if due else None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        step, self._due_step = self._due_step, None
        if step is None:
            return
        if not isinstance(outputs, Mapping) or any(outputs.get(key) is None for key in self.needs):
            if not self._warned_outputs:
                self._warned_outputs = True
                rank_zero_warn(
                    f"{type(self).__name__}: training_step returned no {', '.join(self.needs)} "
                    "(lit_srl.model.SentenceEmbeddingModule returns them); nothing is logged"
                )
            return
        self.measure(trainer, pl_module, outputs, step)

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Mapping, step: int) -> None:
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def log_scalars(trainer: L.Trainer, metrics: dict[str, float], step: int) -> None:
        """Write ``metrics`` (already reduced over ranks) to every logger, from rank 0 only."""
        metrics = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        if not metrics or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)


def histogram_writers(trainer: L.Trainer) -> list:
    """The ``experiment`` of every logger that can ``add_histogram_raw`` (rank 0 only)."""
    if not trainer.is_global_zero:
        return []
    writers = []
    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_histogram_raw"):
            writers.append(experiment)
    return writers


class GradientComponentMonitor(IntervalCallback):
    """Logs the statistics the loss produced for the training batch: GD/W/R and cosines.

    Every ``log_every_n_steps`` optimizer steps (default: the trainer's), from ``outputs["stats"]``
    and ``outputs["details"]`` of the training step (the loss's ``LossOutput.stats`` and
    ``.details``, :mod:`lit_srl.losses.stats`; nothing is computed here but the reduction):

    scalars (every logger, written by rank 0, see :class:`IntervalCallback`)
        grad/gd_mean, grad/w_hardest (weight share of the hardest negative), grad/ratio_mean —
        where the loss defines them; cos/pos_mean, cos/neg_mean, cos/neg_max_mean (cross-view
        cosines s_ij = u_i·v_j); cos/alignment = E‖u_i − v_i‖² (Wang & Isola, α = 2) and
        cos/uniformity = log E_{i≠j} e^{−2‖u_i − u_j‖²} over distinct pairs of view 0 (t = 2).
    histograms (TensorBoard-like loggers, rank 0)
        cos/pos, cos/neg (anchor–positive and anchor–negative cosines, Figure 5 of the paper;
        80 bins on [−1, 1]) and grad/gd (50 bins on [0, 1]) when the loss has components.

    Under DDP each rank's loss describes its anchors against every rank's columns; one gather of
    the packed statistics reduces them: means are averaged over ranks (equal local batches),
    histogram counts summed, min/max taken; the uniformity is the log of the global mean.

    Args:
        log_every_n_steps: interval in optimizer steps (default: ``trainer.log_every_n_steps``).
        histograms: also write the histograms.
    """

    needs = ("stats",)

    def __init__(self, log_every_n_steps: Optional[int] = None, histograms: bool = True) -> None:
        super().__init__(log_every_n_steps)
        self.histograms = histograms

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Mapping, step: int) -> None:
        details = outputs.get("details")
        means = {**outputs["stats"], **(details.means() if details is not None else {})}
        samples = details.masked_samples() if details is not None and self.histograms else {}
        keys = list(means)
        dtype = torch.float64 if any(v.dtype == torch.float64 for v in means.values()) else torch.float32
        parts = [torch.stack([means[k].to(dtype) for k in keys])]
        for key, (x, keep) in samples.items():
            parts += _histogram_part(x.to(dtype), keep, *HISTOGRAMS[key])
        packed = stack_over_ranks(torch.cat(parts))  # (W, L): the one collective
        # everything reduced on the device, then read in the step's one transfer
        mean = packed[:, : len(keys)].mean(dim=0)
        if "uniformity_exp" in keys:  # the log of the global mean
            i = keys.index("uniformity_exp")
            keys[i] = "uniformity"
            mean = torch.cat([mean[:i], mean[i : i + 1].log(), mean[i + 1 :]])
        reduced = [mean]
        offset = len(keys)
        for key in samples:
            bins = HISTOGRAMS[key][2]
            summary = packed[:, offset : offset + 5]
            reduced += [
                torch.stack([summary[:, 0].min(), summary[:, 1].max(), summary[:, 2].sum(), summary[:, 3].sum(), summary[:, 4].sum()]),
                packed[:, offset + 5 : offset + 5 + bins].sum(dim=0),
            ]
            offset += 5 + bins
        read_on_host(pl_module, torch.cat(reduced), lambda host: self._write(trainer, keys, list(samples), host, step))

    def _write(self, trainer: L.Trainer, keys: list[str], histograms: list[str], host: list[float], step: int) -> None:
        """Write the reduced statistics, read to the host: the scalars of ``keys``, then per
        histogram its min, max, count, sum, sum of squares and bucket counts."""
        self.log_scalars(trainer, {names.LOSS_STATS[k]: v for k, v in zip(keys, host)}, step)
        writers = histogram_writers(trainer)
        if not writers or not histograms:
            return
        offset = len(keys)
        for key in histograms:
            bins = HISTOGRAMS[key][2]
            low, high, num, total, squares = host[offset : offset + 5]
            counts = host[offset + 5 : offset + 5 + bins]
            offset += 5 + bins
            if num == 0:
                continue
            # TensorBoard keeps right limits only: an empty first bucket carries the left edge.
            for writer in writers:
                writer.add_histogram_raw(
                    names.LOSS_STATS[key],
                    min=low,
                    max=high,
                    num=num,
                    sum=total,
                    sum_squares=squares,
                    bucket_limits=BUCKET_LIMITS[key],
                    bucket_counts=[0.0] + counts,
                    global_step=step,
                )


def _histogram_part(x: torch.Tensor, keep: Optional[torch.Tensor], low: float, high: float, bins: int) -> list[torch.Tensor]:
    """[min, max, count, sum, sum of squares] (5,) and the bucket counts (bins,) of the elements of
    ``x`` (k,) where ``keep`` (k,) bool is True (all where it is None), in shapes that do not depend
    on ``keep``: no boolean indexing, so nothing waits for the device. Empty: [inf, −inf, 0, 0, 0]."""
    if keep is None:
        keep = torch.ones_like(x, dtype=torch.bool)
    if x.numel():
        low_x, high_x = torch.where(keep, x, math.inf).min(), torch.where(keep, x, -math.inf).max()
    else:
        low_x, high_x = x.new_full((), math.inf), x.new_full((), -math.inf)
    kept = torch.where(keep, x, 0)
    summary = torch.stack([low_x, high_x, keep.sum().to(x.dtype), kept.sum(), kept.pow(2).sum()])
    # histc ignores what lies outside [low, high]: the elements not kept are put below it
    inside = torch.where(keep, x.clamp(low, high), low - 1.0)
    return [summary, torch.histc(inside, bins=bins, min=low, max=high)]

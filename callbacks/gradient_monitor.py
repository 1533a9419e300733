"""Gradient components and cosine statistics of the training batch, logged while training.

Li, Zhang & Nie (ACL 2024) write the gradient of a contrastive loss at the anchor u_i as
c·GD_i·Σ_{j≠i} W_ij (v_j − R_i v_i) (u_i = h_i/‖h_i‖ view 0, v_j = h'_j/‖h'_j‖ view 1).
:class:`GradientComponentMonitor` logs these components for the last training batch, the cosine
statistics behind them (the paper's Figure 5) and the alignment/uniformity of Wang & Isola (2020).
"""

from __future__ import annotations

import math
from typing import Optional

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from lit_srl import metric_names as names

#: Histogram bins: cosines on [−1, 1], GD on [0, 1].
COS_BINS = 80
GD_BINS = 50


# ----------------------------------------------------------------------------- statistics
def _hardest(s: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
    masked = s.scatter(1, pos[:, None], float("-inf"))
    return masked.max(dim=1)


@torch.no_grad()
def batch_statistics(
    u: Tensor, v_all: Tensor, u_all: Tensor, pos: Tensor, loss_fn=None, loss_stats: Optional[dict] = None
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Statistics of n local anchors against the M columns of the (global) batch.

    Args:
        u: (n, D) unit anchors of view 0 (this rank's rows).
        v_all, u_all: (M, D) unit vectors of view 1 / view 0 of every rank, in rank order.
        pos: (n,) column of each anchor's positive in ``v_all`` (rank·n + i).
        loss_fn: the training loss; if it has ``components(z1, z2)`` (GD (M,), W (M, M), R (M,)),
            they are computed on the global batch (u_all, v_all) — the layout the loss itself uses
            under DDP — and this rank's rows ``pos`` are kept.
        loss_stats: ``LossOutput.stats`` of the step, used for GD/W/R when the loss has no components.

    Returns:
        (means, samples): per-rank means (0-dim tensors) keyed by log name — the mean of
        e^{−2‖u_i − u_j‖²} is returned as ``cos/uniformity_exp`` (uniformity = log of its global
        mean) — and 1-D samples for the histograms ``cos/pos``, ``cos/neg``, ``grad/gd``.

    With s_ij = u_i·v_j: cos/pos_mean = mean s_ii, cos/neg_mean = mean_{j≠i} s_ij,
    cos/neg_max_mean = mean_i max_{j≠i} s_ij, cos/alignment = mean ‖u_i − v_i‖² (α = 2),
    grad/gd_mean = mean GD_i, grad/w_hardest = mean W_{i j*}/Σ_j W_ij with j* = argmax_{j≠i} s_ij,
    grad/ratio_mean = mean R_i.
    """
    m = v_all.shape[0]
    s = u @ v_all.T  # (n, M)
    s_pos = s.gather(1, pos[:, None]).squeeze(1)
    off = torch.ones_like(s, dtype=torch.bool).scatter_(1, pos[:, None], False)
    hardest, j_star = _hardest(s, pos)
    v_pos = v_all[pos]
    sq = (2 - 2 * (u @ u_all.T)).clamp_min(0)  # ‖u_i − u_j‖² of unit vectors; column pos_i is u_i itself
    means = {
        names.COS_POS_MEAN: s_pos.mean(),
        names.COS_NEG_MEAN: s[off].mean() if m > 1 else s.new_tensor(math.nan),
        names.COS_NEG_MAX_MEAN: hardest.mean(),
        names.ALIGNMENT: (u - v_pos).pow(2).sum(-1).mean(),
        names.UNIFORMITY_EXP: torch.exp(-2 * sq[off]).mean() if m > 1 else s.new_tensor(math.nan),
    }
    samples = {names.COS_POS_HISTOGRAM: s_pos, names.COS_NEG_HISTOGRAM: s[off]}
    if loss_fn is not None and hasattr(loss_fn, "components"):
        # The global batch's components (one process's call on every rank's rows), this rank's rows.
        comps = loss_fn.components(u_all, v_all)
        gd, w, ratio = comps.gd[pos], comps.weight[pos], comps.ratio[pos]
        share = w.gather(1, j_star[:, None]).squeeze(1) / w.sum(dim=1).clamp_min(torch.finfo(w.dtype).tiny)
        means.update({names.GD_MEAN: gd.mean(), names.W_HARDEST: share.mean(), names.RATIO_MEAN: ratio.mean()})
        samples[names.GD_HISTOGRAM] = gd
    elif loss_stats:
        for key in ("gd_mean", "w_hardest", "ratio_mean"):
            if key in loss_stats:
                means[names.grad(key)] = loss_stats[key].detach().to(u.device, u.dtype).reshape(())
    return means, samples


# ------------------------------------------------------------------------ shared machinery
class IntervalCallback(L.Callback):
    """Runs :meth:`measure` every ``every_n_steps`` optimizer steps from ``on_before_optimizer_step``.

    The hook fires once per optimizer step (after gradient accumulation, gradients unscaled), on
    every rank, with the views of the step's last micro-batch. A measurement is due when
    (global_step + 1) % every_n_steps == 0 — the steps at which Lightning itself writes its
    on-step metrics when the interval equals ``trainer.log_every_n_steps`` — and is written at
    ``step = trainer.global_step``, the step Lightning gives the same batch's ``train/loss``.

    Scalars are written by rank 0 to every Lightning logger with ``logger.log_metrics`` (as
    Lightning's LearningRateMonitor does), after the statistics were reduced over ranks.
    ``pl_module.log`` is not used: it re-emits the last value at every later logging step, so a
    measurement taken every 50 steps would appear, stale, at the steps in between.
    """

    def __init__(self, every_n_steps: Optional[int] = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}; valid: a positive int or None")
        self.every_n_steps = every_n_steps
        self._every: Optional[int] = None
        self._warned_views = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._every = self.every_n_steps or trainer.log_every_n_steps or None
        if self._every is None:
            rank_zero_warn(f"{type(self).__name__}: trainer.log_every_n_steps is 0 and no interval was given; nothing is logged")

    def due(self, trainer: L.Trainer) -> bool:
        return self._every is not None and (trainer.global_step + 1) % self._every == 0

    def views(self, pl_module: L.LightningModule) -> Optional[tuple[Tensor, Tensor]]:
        views = getattr(pl_module, "last_views", None)
        if views is None and not self._warned_views:
            self._warned_views = True
            rank_zero_warn(f"{type(self).__name__}: the module has no last_views; nothing is logged")
        return views

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if not self.due(trainer):
            return
        views = self.views(pl_module)
        if views is not None:
            self.measure(trainer, pl_module, views[0].detach(), views[1].detach())

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, z1: Tensor, z2: Tensor) -> None:
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def log_scalars(trainer: L.Trainer, metrics: dict[str, float]) -> None:
        """Write ``metrics`` (already reduced over ranks) to every logger, from rank 0 only."""
        metrics = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        if not metrics or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


def gather_rows(trainer: L.Trainer, pl_module: L.LightningModule, x: Tensor) -> Tensor:
    """Every rank's ``x`` (n, ...) in rank order, (W·n, ...); ``x`` itself with one process."""
    if trainer.world_size == 1:
        return x
    return pl_module.all_gather(x).reshape(-1, *x.shape[1:])


def gather_stack(trainer: L.Trainer, pl_module: L.LightningModule, x: Tensor) -> Tensor:
    """Every rank's 1-D ``x`` stacked: (W, L) (W = 1 with one process)."""
    if trainer.world_size == 1:
        return x.unsqueeze(0)
    return pl_module.all_gather(x).reshape(-1, x.shape[-1])


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
    """Logs the GD/W/R components and cosine statistics of the training batch.

    Every ``log_every_n_steps`` optimizer steps (default: the trainer's), from the views the
    module kept (``pl_module.last_views``, (N, H) each) and its loss (``pl_module.loss_fn``):

    scalars (every logger, written by rank 0, see :class:`IntervalCallback`)
        grad/gd_mean, grad/w_hardest (weight share of the hardest negative), grad/ratio_mean
        — from the loss's ``components`` on the global batch, else from its
        ``LossOutput.stats``; cos/pos_mean, cos/neg_mean, cos/neg_max_mean (cross-view cosines
        s_ij = u_i·v_j); cos/alignment = E‖u_i − v_i‖² (Wang & Isola, α = 2) and
        cos/uniformity = log E_{i≠j} e^{−2‖u_i − u_j‖²} over distinct pairs of view 0 (t = 2).
    histograms (TensorBoard-like loggers, rank 0)
        cos/pos, cos/neg (anchor–positive and anchor–negative cosines, Figure 5 of the paper;
        80 bins on [−1, 1]) and grad/gd (50 bins on [0, 1]) when the loss has components.

    Under DDP each rank measures its anchors against every rank's columns (the layout of the
    losses), then one ``pl_module.all_gather`` of the packed statistics reduces them: means are
    averaged over ranks (equal local batches), histogram counts summed, min/max taken; the
    uniformity is the log of the global mean. With one process the gather is the identity.

    Args:
        log_every_n_steps: interval in optimizer steps (default: ``trainer.log_every_n_steps``).
        histograms: also write the histograms.
    """

    def __init__(self, log_every_n_steps: Optional[int] = None, histograms: bool = True) -> None:
        super().__init__(log_every_n_steps)
        self.histograms = histograms

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, z1: Tensor, z2: Tensor) -> None:
        compute = torch.float64 if z1.dtype == torch.float64 else torch.float32
        u, v = F.normalize(z1.to(compute), dim=-1), F.normalize(z2.to(compute), dim=-1)
        n = u.shape[0]
        u_all, v_all = gather_rows(trainer, pl_module, u), gather_rows(trainer, pl_module, v)
        pos = torch.arange(n, device=u.device) + trainer.global_rank * n
        out = getattr(pl_module, "last_loss_output", None)
        means, samples = batch_statistics(
            u, v_all, u_all, pos, getattr(pl_module, "loss_fn", None), getattr(out, "stats", None)
        )
        hist_specs = {names.COS_POS_HISTOGRAM: (-1.0, 1.0, COS_BINS), names.COS_NEG_HISTOGRAM: (-1.0, 1.0, COS_BINS),
                      names.GD_HISTOGRAM: (0.0, 1.0, GD_BINS)}
        hist_specs = {k: spec for k, spec in hist_specs.items() if k in samples} if self.histograms else {}
        keys = list(means)
        parts = [torch.stack([means[k].to(compute) for k in keys])]
        for name, (lo, hi, bins) in hist_specs.items():
            x = samples[name].to(compute)
            if x.numel():
                summary = torch.stack([x.min(), x.max(), x.new_tensor(float(x.numel())), x.sum(), x.pow(2).sum()])
            else:
                summary = x.new_tensor([math.inf, -math.inf, 0.0, 0.0, 0.0])
            parts += [summary, torch.histc(x.clamp(lo, hi), bins=bins, min=lo, max=hi)]
        packed = gather_stack(trainer, pl_module, torch.cat(parts))  # (W, L): the one collective
        rank_means = packed[:, : len(keys)]
        reduced = dict(zip(keys, rank_means.mean(dim=0)))
        uniformity_exp = reduced.pop(names.UNIFORMITY_EXP)
        reduced[names.UNIFORMITY] = torch.log(uniformity_exp)
        self.log_scalars(trainer, {name: float(value) for name, value in reduced.items()})
        writers = histogram_writers(trainer)
        if not writers or not hist_specs:
            return
        offset = len(keys)
        for name, (lo, hi, bins) in hist_specs.items():
            summary = packed[:, offset : offset + 5]
            counts = packed[:, offset + 5 : offset + 5 + bins].sum(dim=0)
            offset += 5 + bins
            num = float(summary[:, 2].sum())
            if num == 0:
                continue
            edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
            # TensorBoard keeps right limits only: an empty first bucket carries the left edge.
            for writer in writers:
                writer.add_histogram_raw(
                    name,
                    min=float(summary[:, 0].min()),
                    max=float(summary[:, 1].max()),
                    num=num,
                    sum=float(summary[:, 3].sum()),
                    sum_squares=float(summary[:, 4].sum()),
                    bucket_limits=edges.tolist(),
                    bucket_counts=[0.0] + counts.double().cpu().tolist(),
                    global_step=trainer.global_step,
                )

"""Effective GD, W, R of any loss measured on the training batch (Li, Zhang & Nie, ACL 2024).

See :mod:`lit_srl.analysis.effective` for the least-squares reading of autograd's gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import lightning as L
import torch
from torch import Tensor

from lit_srl import metric_names as names
from lit_srl.analysis.effective import effective_components, max_anchors
from lit_srl.callbacks.gradient_monitor import IntervalCallback
from lit_srl.losses.distributed import stack_over_ranks

KEYS = ("gd_mean", "w_hardest", "ratio_mean", "residual", "in_view_share")


class EffectiveComponentMonitor(IntervalCallback):
    """Logs ``grad_eff/{gd_mean, w_hardest, ratio_mean, residual, in_view_share}``.

    Every ``every_n_steps`` optimizer steps (default 50) it takes the step's two views
    (``outputs["views"]`` of the training step, (N, H) each), draws a random subsample of n
    anchors (seeded by ``seed`` and the step) and runs
    :func:`~lit_srl.analysis.effective.effective_components` on the loss (``pl_module.loss_fn``)
    with that sub-batch. The least squares is well posed only when the basis of 2n − 1 projected
    vectors fits the tangent space, **H ≥ 2n** (H ≥ n + 1 without ``in_view``), so
    n = min(N, ⌊H/2⌋, ``max_anchors``) — e.g. 16 anchors for the tiny 32-dim test BERT, 64 (the
    default cap) for MiniLM or BERT. The sub-batch is a batch of its own: its negatives are the
    other sampled sentences, so GD and W describe a batch of n, not of N (GD grows with batch size
    for InfoNCE). Under DDP each rank analyses its own rows (the loss's cross-device gather is
    switched off in a copy); the five means are averaged over ranks (NaN-aware, one
    ``all_gather``) before logging. Cost: one loss forward/backward in float64 on n rows plus a
    batched least squares of n (H × (2n − 1)) systems.

    Args:
        every_n_steps: interval in optimizer steps.
        max_anchors: cap on the sub-batch size n.
        in_view: also fit in-view directions u_j (needed for VICReg/MHE-like in-view terms).
        normalize_constant: passed on; ``"auto"`` (default) divides GD by the loss's own c when it
            has ``components`` (so grad_eff/gd_mean is comparable with grad/gd_mean), else by 1.
        seed: seed of the anchor subsample.
    """

    needs = ("views",)

    def __init__(
        self,
        every_n_steps: int = 50,
        max_anchors: int = 64,
        in_view: bool = True,
        normalize_constant: Union[None, bool, float, str] = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_steps)
        if max_anchors < 2:
            raise ValueError(f"max_anchors must be ≥ 2, got {max_anchors}; valid: an int ≥ 2")
        self.max_anchors = max_anchors
        self.in_view = in_view
        self.normalize_constant = normalize_constant
        self.seed = seed

    def subsample(self, n: int, dim: int, step: int) -> Tensor:
        """Sorted indices of the anchors analysed at ``step``: (min(n, H-bound, max_anchors),)."""
        k = min(n, max_anchors(dim, self.in_view), self.max_anchors)
        if k < 2:
            raise ValueError(f"embeddings of size {dim} leave fewer than 2 anchors for the effective components")
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return torch.randperm(n, generator=g)[:k].sort().values

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Mapping, step: int) -> None:
        z1, z2 = outputs["views"]
        idx = self.subsample(z1.shape[0], z1.shape[1], step).to(z1.device)
        result = effective_components(
            pl_module.loss_fn, z1[idx], z2[idx], in_view=self.in_view, normalize_constant=self.normalize_constant
        )
        summary = result.summary()
        local = torch.tensor([summary[k] for k in KEYS], dtype=torch.float64, device=z1.device)
        gathered = stack_over_ranks(local)  # (W, 5)
        finite = torch.isfinite(gathered)
        count = finite.sum(dim=0)
        mean = torch.where(finite, gathered, torch.zeros_like(gathered)).sum(dim=0) / count.clamp_min(1)
        self.log_scalars(
            trainer, {names.effective(k): v for k, v, c in zip(KEYS, mean.tolist(), count.tolist()) if c}, step
        )

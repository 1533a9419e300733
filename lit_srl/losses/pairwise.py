"""Base of the anchor-row losses: rows are one view's anchors, columns the other view.

One direction: anchors u_i (this rank's view-0 rows) against every view-1 row v_j of the global
batch, S = U V_allᵀ (n, M), the positive of anchor i at column pos_i = rank·n + i. ``symmetric``
averages this with the reverse direction (view-1 anchors against view-0 columns).
"""

from __future__ import annotations

import torch
from torch import Tensor

from lit_srl.losses.base import Components, LossOutput, SentenceLoss, to_unit
from lit_srl.losses.batch import PairBatch
from lit_srl.losses.components import PairSims
from lit_srl.losses.stats import average_stats, component_stats, cosine_stats


class ContrastiveLoss(SentenceLoss):
    """A loss over anchor rows with analytic components GD, W, R (see :mod:`.components`).

    Subclasses implement :meth:`per_anchor` (the closed form, (n,) from S (n, M) and pos (n,)) and
    :meth:`components_of` (GD, W, R, c from the detached :class:`PairSims`); :meth:`direction` takes
    the mean of ``per_anchor`` over the local anchors (the DDP rule of :mod:`.distributed`).

    Args:
        symmetric: average the loss over both directions (the official code uses one direction).
        gather_across_devices: see :class:`SentenceLoss`.
    """

    def __init__(self, *, symmetric: bool = False, gather_across_devices: bool = True) -> None:
        super().__init__(gather_across_devices=gather_across_devices)
        self.symmetric = bool(symmetric)

    # -- to implement -------------------------------------------------------------------
    def per_anchor(self, s: Tensor, pos: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def components_of(self, sims: PairSims) -> Components:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- machinery ----------------------------------------------------------------------
    def direction(self, rows: Tensor, cols: Tensor, batch: PairBatch) -> tuple[Tensor, dict]:
        """Loss and stats of anchors ``rows`` (n, D) against ``cols`` (M, D), positives at ``batch.pos``."""
        s = rows @ cols.T
        loss = self.per_anchor(s, batch.pos).mean()
        return loss, self.direction_stats(PairSims(s, batch.pos))

    @torch.no_grad()
    def direction_stats(
        self, sims: PairSims, c: Components | None = None, weight_sums: Tensor | None = None
    ) -> dict[str, Tensor]:
        c = self.components_of(sims) if c is None else c
        return {**component_stats(c.gd, c.weight, c.ratio, sims, weight_sums), **cosine_stats(sims)}

    def compute(self, z1: Tensor, z2: Tensor) -> LossOutput:
        """z1, z2: (N, D) raw embeddings of views 0 and 1 -> LossOutput (scalar loss, 6 stats)."""
        batch = PairBatch(z1, z2, gather=self.gather_across_devices)
        parts = [self.direction(batch.u, batch.v_all, batch)]
        if self.symmetric:
            parts.append(self.direction(batch.v, batch.u_all, batch))
        loss = torch.stack([p[0] for p in parts]).mean()
        return LossOutput(loss, average_stats([p[1] for p in parts]))

    @torch.no_grad()
    def components(self, z1: Tensor, z2: Tensor) -> Components:
        """GD (N,), W (N, N) zero diagonal, R (N,), c of the view-0 -> view-1 direction (one process)."""
        u, v = to_unit(z1), to_unit(z2)
        return self.components_of(PairSims(u @ v.T, torch.arange(u.shape[0], device=u.device)))

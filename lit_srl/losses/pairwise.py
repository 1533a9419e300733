"""Base of the anchor-row losses: rows are one view's anchors, columns the other view.

One direction: anchors u_i (this rank's view-0 rows) against every view-1 row v_j of the global
batch, S = U V_allᵀ (n, M), the positive of anchor i at column pos_i = rank·n + i. ``symmetric``
averages this with the reverse direction (view-1 anchors against view-0 columns).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from lit_srl.losses.base import Components, LossOutput, SentenceLoss, to_unit
from lit_srl.losses.batch import PairBatch
from lit_srl.losses.components import PairSims
from lit_srl.losses.stats import component_stats, cosine_stats


class ContrastiveLoss(SentenceLoss):
    """A loss over anchor rows with analytic components GD, W, R (see :mod:`.components`).

    Subclasses implement :meth:`per_anchor` (the closed form, (n,) from S (n, M) and pos (n,)) and
    :meth:`components_of` (GD, W, R, c from the detached :class:`PairSims`); the loss is the mean
    of ``per_anchor`` over the local anchors (the DDP rule of :mod:`.distributed`).

    Stats (all six keys) and details describe the view-0 → view-1 direction, also with
    ``symmetric`` (:mod:`.stats`).

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
    def compute(self, z1: Tensor, z2: Tensor) -> LossOutput:
        """z1, z2: (N, D) raw embeddings of views 0 and 1 -> LossOutput (scalar loss, 6 stats)."""
        batch = PairBatch(z1, z2, gather=self.gather_across_devices)
        s = batch.u @ batch.v_all.T  # (n, M): this rank's view-0 anchors against every view-1 row
        losses = [self.per_anchor(s, batch.pos).mean()]
        if self.symmetric:
            losses.append(self.per_anchor(batch.v @ batch.u_all.T, batch.pos).mean())
        return self.output(torch.stack(losses).mean(), PairSims(s, batch.pos), batch)

    def output(
        self, loss: Tensor, sims: PairSims, batch: PairBatch, c: Components | None = None,
        weight_sums: Tensor | None = None,
    ) -> LossOutput:
        """``loss`` with the statistics of the view-0 direction ``sims`` (n, M) and its components
        ``c`` (computed from ``sims`` when not given; ``weight_sums`` (n,): Σ_j W_ij if known),
        computed when first read (:class:`LossOutput`)."""
        @functools.cache
        def components() -> Components:  # once, for the stats and the GD samples alike
            return self.components_of(sims) if c is None else c  # sims are detached: no graph

        def stats() -> dict[str, Tensor]:
            c = components()
            return {**component_stats(c.gd, c.weight, c.ratio, sims, weight_sums), **cosine_stats(sims)}

        return LossOutput(loss, stats, batch.stat_details(sims, gd=lambda: components().gd))

    @torch.no_grad()
    def components(self, z1: Tensor, z2: Tensor) -> Components:
        """GD (N,), W (N, N) zero diagonal, R (N,), c of the view-0 -> view-1 direction (one process)."""
        u, v = to_unit(z1), to_unit(z2)
        return self.components_of(PairSims(u @ v.T, torch.arange(u.shape[0], device=u.device)))

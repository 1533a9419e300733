"""A loss assembled from chosen components: its gradient *is* the paradigm formula.

Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence Representation Learning:
A Unified Paradigm for Gradient", ACL 2024, §3.2 (the ``sg``, simulated-gradient, objective).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from lit_srl.losses import components as comp
from lit_srl.losses.base import Components, LossOutput
from lit_srl.losses.batch import PairBatch
from lit_srl.losses.pairwise import ContrastiveLoss
from lit_srl.losses.validation import check_choice, check_nonnegative, check_positive

# The choices are the keys of the tables in components.py (a Literal, so that the CLI lists them).
GDChoice = Literal[tuple(comp.GD)]  # type: ignore[valid-type]
WeightChoice = Literal[tuple(comp.WEIGHT)]  # type: ignore[valid-type]
RatioChoice = Literal[tuple(comp.RATIO)]  # type: ignore[valid-type]
Reduction = Literal["anchors", "kept"]
REDUCTIONS = ("anchors", "kept")

#: The official ``sg`` run (paper §3.2, notes §4): both directions summed, each the mean over the
#: kept anchors' N entries, positive not detached, gate m = 0.30, softmax weights τ = 0.05, r = 1.
SG_OFFICIAL: dict[str, Any] = dict(
    gd="gate",
    gd_margin=0.30,
    weight="softmax",
    weight_temperature=0.05,
    ratio="constant",
    ratio_value=1.0,
    scale=2.0,
    reduction="kept",
    detach_positive=False,
    symmetric=True,
)


class AssembledLoss(ContrastiveLoss):
    """Surrogate whose gradient is c · GD_i · Σ_{j≠i} W_ij (v_j − R_i v_i) with detached components.

    Per direction, anchors u_i (n, D) against columns v_j (M, D), S = U V.detach()ᵀ:

        L = scale · (1/n) Σ_i GD_i [ Σ_{j≠i} W_ij s_ij − R_i (Σ_{j≠i} W_ij) u_i·v_i ]

    (``reduction="kept"``: divide by K·n instead of n, K the number of anchors with GD > 0 — the
    official mean over the kept anchors' entries). GD, W, R are computed from S without gradient, so
    ∂L/∂u_i = (scale/n) GD_i Σ_{j≠i} W_ij (v_j − R_i v_i). With ``detach_positive=False`` the
    u_i·v_i term also pulls v_i (official sg: with both directions the pull is about 2r).

    Components: ``gd``, ``weight`` and ``ratio`` name entries of the tables
    :data:`~lit_srl.losses.components.GD`, :data:`~lit_srl.losses.components.WEIGHT` and
    :data:`~lit_srl.losses.components.RATIO` (each entry's function documents its formula; they
    are the functions the closed-form losses report). An entry reads the settings it needs:
    ``gd_temperature``, ``gd_margin``, ``arc_margin`` (ArcCon's u), ``weight_temperature``,
    ``power`` (max(s,1e-4)^power), ``ratio_value`` (the constant r).

    InfoNCE's components with scale = 1/τ (``InfoNCE().as_assembled()``) give InfoNCE's gradient
    with respect to the anchors exactly; likewise ArcCon, MPT (scale 1), MET (scale 1).

    Shapes: z1, z2 (N, D) -> scalar. Stats: all six keys.
    """

    def __init__(
        self,
        *,
        gd: GDChoice = "gate",
        gd_temperature: float = 0.05,
        gd_margin: float = 0.30,
        arc_margin: float = math.pi / 18,
        weight: WeightChoice = "softmax",
        weight_temperature: float = 0.05,
        power: float = 1.0,
        ratio: RatioChoice = "constant",
        ratio_value: float = 1.0,
        scale: float = 1.0,
        reduction: Reduction = "anchors",
        detach_positive: bool = True,
        symmetric: bool = False,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(symmetric=symmetric, gather_across_devices=gather_across_devices)
        self.gd = check_choice("gd", gd, tuple(comp.GD))
        self.weight = check_choice("weight", weight, tuple(comp.WEIGHT))
        self.ratio = check_choice("ratio", ratio, tuple(comp.RATIO))
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.gd_temperature = check_positive("gd_temperature", gd_temperature)
        self.gd_margin = check_nonnegative("gd_margin", gd_margin)
        self.arc_margin = check_nonnegative("arc_margin", arc_margin)
        self.weight_temperature = check_positive("weight_temperature", weight_temperature)
        self.power = check_nonnegative("power", power)
        self.ratio_value = check_nonnegative("ratio_value", ratio_value)
        self.scale = check_positive("scale", scale)
        self.detach_positive = bool(detach_positive)

    # -------------------------------------------------------------------- components
    @torch.no_grad()
    def components_of(self, sims: comp.PairSims, with_constant: bool = True) -> Components:
        """GD, W, R and c (for ``reduction="kept"``, c = scale/K: a host sync, skipped in forward)."""
        gd = comp.GD[self.gd](sims, self)
        constant = self.scale
        if self.reduction == "kept" and with_constant:
            constant = self.scale / max(int((gd > 0).sum()), 1)
        return Components(gd, comp.WEIGHT[self.weight](sims, self), comp.RATIO[self.ratio](sims, self), constant)

    # ------------------------------------------------------------------------- loss
    def compute(self, z1: Tensor, z2: Tensor) -> LossOutput:
        """z1, z2: (N, D) raw embeddings of views 0 and 1 -> LossOutput (scalar loss, 6 stats).

        Per direction, with G = GD·W and the pull P_i = GD_i R_i Σ_j W_ij (both detached):
            L = scale · reduce_i u_i·(Σ_j G_ij v_j − P_i v_i)
        so ∂L/∂u_i ∝ Σ_j G_ij v_j − P_i v_i, one (n, M)·(M, D) product per direction. With
        ``symmetric`` both directions are stacked as 2n anchor rows and computed in one pass.
        """
        batch = PairBatch(z1, z2, gather=self.gather_across_devices)
        n, pos = batch.n, batch.pos
        v_all = batch.v_all.detach()
        with torch.no_grad():
            s = batch.u @ v_all.T  # (n, M) cosines, no gradient: the components and G are detached
        rows, partners, cols = batch.u, batch.v, v_all[None]
        if self.symmetric:
            u_all = batch.u_all.detach()
            with torch.no_grad():  # one process: the reverse cosines are the transpose
                s = torch.cat([s, s.T if batch.world_size == 1 else batch.v @ u_all.T])
            rows, partners = torch.cat([batch.u, batch.v]), torch.cat([batch.v, batch.u])
            cols, pos = torch.stack([v_all, u_all]), torch.cat([pos, pos])
        directions = cols.shape[0]
        sims = comp.PairSims(s, pos)
        c = self.components_of(sims, with_constant=False)
        push = torch.bmm(c.weight.view(directions, n, -1), cols).view(directions * n, -1) * c.gd[:, None]
        weight_sums = c.weight.sum(dim=1)
        pull = c.gd * c.ratio * weight_sums
        if self.detach_positive:
            partners = partners.detach()
        per_anchor = (rows * (push - pull[:, None] * partners)).sum(dim=1).view(directions, n)
        if self.reduction == "anchors":
            per_direction = per_anchor.mean(dim=1)
        else:  # the official mean over the kept anchors' entries: K·M per direction, K over all ranks
            kept = batch.sum_over_ranks((c.gd > 0).view(directions, n).sum(dim=1).to(s.dtype))
            # Deliberately unlike the official code: a direction that keeps no anchor (K = 0)
            # contributes 0 (an empty sum), where the official mean over no entries gives NaN.
            per_direction = per_anchor.sum(dim=1) / (kept.clamp_min(1) * n)
        view0 = Components(c.gd[:n], c.weight[:n], c.ratio[:n], c.constant)  # the stats' direction
        return self.output(self.scale * per_direction.mean(), sims.rows(n), batch, view0, weight_sums[:n])

"""MHS: alignment + max-min separation (the nearest cross-view neighbour pushed away)."""

from __future__ import annotations

from torch import Tensor

from lit_srl.losses.components import fill_positive
from lit_srl.losses.noncontrastive.base import GateMode, NonContrastiveLoss, Views, alignment


def _nearest_distance(rows: Tensor, cols: Tensor, pos: Tensor) -> Tensor:
    """min_{j≠i} sqrt(‖rows_i − cols_j‖² + 1e-4): (n,)."""
    sq = (rows * rows).sum(1, keepdim=True) + (cols * cols).sum(1)[None] - 2 * rows @ cols.T
    d = (sq.clamp_min(0) + 1e-4).sqrt()
    return fill_positive(d, pos, float("inf")).min(dim=1).values


class MHS(NonContrastiveLoss):
    """Alignment + max-min (maximum hyperspherical separation) uniformity.

    D0_ij = sqrt(‖u_i − v_j.detach()‖² + 1e-4) (D1: views swapped); uniform0_i = −min_{j≠i} D0_ij.
    ori (λ = 1): L = λ(mean_i uniform0_i + mean_i uniform1_i) + mean_i align_i
    mod (λ = 1): the alignment of each direction weighted by r/(2 min_{j≠i} D_ij) (detached):
                 L = λ(mean uniform0 + mean uniform1) + mean_i align_i r/2 (1/min D0_i + 1/min D1_i)
    Paradigm: W one-hot on the nearest cross-view negative (×1/d), GD the gate, R = r (only the
    gate and the ratio act; there are no exponential weights). Shapes: (N, D) -> scalar.
    Stats: cosine keys (+ gd_mean, ratio_mean when on).
    """

    def __init__(
        self,
        *,
        lambd: float = 1.0,
        gate: GateMode = "none",
        margin: float = 0.30,
        explicit_ratio: bool = False,
        ratio: float = 1.75,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(
            lambd=lambd, gate=gate, margin=margin, explicit_ratio=explicit_ratio, ratio=ratio,
            gather_across_devices=gather_across_devices,
        )

    def objective(self, views: Views) -> tuple[Tensor, dict[str, Tensor]]:
        near0 = _nearest_distance(views.u, views.v_all.detach(), views.pos)
        near1 = _nearest_distance(views.v, views.u_all.detach(), views.pos)
        align = alignment(views.u, views.v)
        if self.explicit_ratio:
            align_term = align * self.ratio / 2 * (near0.detach().reciprocal() + near1.detach().reciprocal())
        else:
            align_term = align
        loss = self.lambd * (-near0.mean() - near1.mean()) + align_term.mean()
        return loss, {}

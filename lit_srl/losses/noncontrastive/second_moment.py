"""VICReg and Barlow Twins on normalised embeddings, as gradient-equivalent row surrogates.

Both are called for (U, V) and (V, U) and summed. One direction (u1, u2) with weights W (n, M):

    L = Σ_i [ loss_pos_i + λ Σ_j W_ij (u1_i · u1_j.detach()) ]

ori: W_ij = (a_i·a_j)·2/N² with a = u1 (VICReg) or u2 (Barlow Twins), detached, and loss_pos as each
class states; the sum over both directions has exactly the gradient of the textbook loss.
mod: W_ij = exp(a_i·a_j/τ) / Σ_{k≠l} exp(a_k·a_l/τ) for j≠i, W_ii = 0 (detached, normalised over
every off-diagonal entry of the batch), loss_pos_i = λ r (Σ_{j≠i} W_ij)(−u1_i·u2_i) (u2 not detached), λ = 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lit_srl.losses.components import fill_positive, positive_sim
from lit_srl.losses.noncontrastive.base import GateMode, NonContrastiveLoss, Views


class SecondMomentLoss(NonContrastiveLoss):
    """Shared machinery of :class:`VICReg` and :class:`BarlowTwins` (see the module docstring)."""

    #: Weights from the other view's similarities (Barlow Twins) or the anchor's own (VICReg).
    weights_from_other_view = False

    def __init__(
        self,
        *,
        lambd: float = 30.0,
        gate: GateMode = "none",
        margin: float = 0.30,
        exp_weights: bool = False,
        temperature: float = 0.05,
        explicit_ratio: bool = False,
        ratio: float = 1.5,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(
            lambd=lambd, gate=gate, margin=margin, exp_weights=exp_weights, temperature=temperature,
            explicit_ratio=explicit_ratio, ratio=ratio, gather_across_devices=gather_across_devices,
        )

    def ori_positive(self, u1: Tensor, u2: Tensor, u1_all: Tensor, u2_all: Tensor, views: Views) -> Tensor:
        raise NotImplementedError  # pragma: no cover

    @torch.no_grad()
    def _weights(self, s: Tensor, views: Views) -> tuple[Tensor, Tensor | None]:
        """W (n, M) from the detached in-view cosines ``s`` of the weight view; hardest-negative share."""
        if not self.exp_weights:
            return s * (2 / views.m**2), None
        logits = s / self.temperature
        off = fill_positive(logits, views.pos, float("-inf"))
        row_lse = torch.logsumexp(off, dim=1)
        log_z = torch.logsumexp(views.gather(row_lse), dim=0)  # all off-diagonal entries, all ranks
        share = (off.max(dim=1).values - row_lse).exp().mean()
        # The official code keeps W_ii = e^{1/τ}/Z; its term only pushes u_i along itself (zero
        # gradient through the normalisation) but, being ~e^{1/τ} times the others, leaves float32
        # rounding noise of that size in the gradient. Dropped: same exact gradient, clean numerics.
        return (off - log_z).exp(), share

    def _direction(
        self, u1: Tensor, u2: Tensor, u1_all: Tensor, u2_all: Tensor, sim1: Tensor, sim2: Tensor, views: Views
    ) -> tuple[Tensor, Tensor | None]:
        """One direction; sim1 = u1 @ u1_all.detach()ᵀ (gradient to u1), sim2 the same for view 2."""
        weight, share = self._weights((sim2 if self.weights_from_other_view else sim1).detach(), views)
        loss_neg = (weight * sim1).sum(dim=1)
        if self.explicit_ratio:
            off_mass = weight.sum(dim=1) - positive_sim(weight, views.pos)
            loss_pos = self.lambd * self.ratio * off_mass * -(u1 * u2).sum(dim=1)
        else:
            loss_pos = self.ori_positive(u1, u2, u1_all, u2_all, views)
        return views.world_size * (loss_pos + self.lambd * loss_neg).sum(), share

    def objective(self, views: Views) -> tuple[Tensor, dict[str, Tensor]]:
        sim_u = views.u @ views.u_all.detach().T  # (n, M) in-view cosines, gradient to the rows
        sim_v = views.v @ views.v_all.detach().T
        loss0, share0 = self._direction(views.u, views.v, views.u_all, views.v_all, sim_u, sim_v, views)
        loss1, share1 = self._direction(views.v, views.u, views.v_all, views.u_all, sim_v, sim_u, views)
        return loss0 + loss1, ({"w_hardest": (share0 + share1) / 2} if self.exp_weights else {})


class VICReg(SecondMomentLoss):
    """VICReg (Bardes et al., ICLR 2022) as the ACL 2024 code applies it to normalised embeddings.

    ori (λ = 30): gradient of  mean_i ‖u_i − v_i‖² + (λ/2)(‖UᵀU/N‖_F² + ‖VᵀV/N‖_F²)  (uncentred
    second moments, no variance hinge): W_ij = (u_i·u_j)·2/N², loss_pos_i = −(u_i·v_i.detach())·2/N.
    Paradigm: in-view negatives, W ∝ s_ij (linear), no GD.
    mod (λ = 1, m = 0.30, τ = 0.05, r = 1.5): exponential weights from the anchor's own view.
    Shapes: (N, D) -> scalar. Stats: cosine keys (+ gd_mean, w_hardest, ratio_mean when on).
    """

    def ori_positive(self, u1: Tensor, u2: Tensor, u1_all: Tensor, u2_all: Tensor, views: Views) -> Tensor:
        return -(u1 * u2.detach()).sum(dim=1) * (2 / views.m)


class BarlowTwins(SecondMomentLoss):
    """Barlow Twins (Zbontar et al., ICML 2021) as the ACL 2024 code applies it to normalised embeddings.

    ori (λ = 30): exactly the gradient of  Σ_k (1 − C_kk)² + λ Σ_{k≠l} C_kl²,  C = UᵀV/N (uncentred,
    no batch-norm): W_ij = (v_i·v_j)·2/N², loss_pos_i = −Σ_k p_k u_ik v_ik (v detached),
    p_k = (1 − (1 − λ) C_kk)·2/N.
    mod (λ = 1, m = 0.30, τ = 0.05, r = 1.5): exponential weights from the *other* view, exp(v_i·v_j/τ).
    Shapes: (N, D) -> scalar. Stats: cosine keys (+ gd_mean, w_hardest, ratio_mean when on).
    """

    weights_from_other_view = True

    def ori_positive(self, u1: Tensor, u2: Tensor, u1_all: Tensor, u2_all: Tensor, views: Views) -> Tensor:
        c_diag = (u1_all.detach() * u2_all.detach()).sum(dim=0) / views.m  # (D,) diag of C, global
        p = (1 - (1 - self.lambd) * c_diag) * (2 / views.m)
        return -(p * u1 * u2.detach()).sum(dim=1)

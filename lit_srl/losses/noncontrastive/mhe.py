"""MHE: alignment + log-sum-exp uniformity (Wang & Isola, ICML 2020, in the form of the ACL 2024 code)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lit_srl.losses.components import fill_positive
from lit_srl.losses.noncontrastive.base import GateMode, NonContrastiveLoss, Views, alignment


class MHE(NonContrastiveLoss):
    """Alignment + log-sum-exp (minimum hyperspherical energy) uniformity of each view.

    ori (λ = 10):  L = mean_i align_i + λ [U_0 + U_1],  U_0 = LSE_{i>j}(u_i·u_j),  U_1 = LSE_{i>j}(v_i·v_j)
    mod (λ = 1):   U_0 = LSE_{i>j}(u_i·u_j/τ); c_i = exp(LSE_{j≠i}(u_i·u_j/τ) − U_0)/τ (detached, c'
                   likewise for v);  L = λ(U_0 + U_1) + Σ_i align_i (c_i + c'_i) r/2
    with align_i = 2 − 2 u_i·v_i. Paradigm (mod): negatives are in-view, W_ij = softmax_{j≠i}(u_i·u_j/τ),
    GD the gate, R = r (the alignment pull over the uniformity push). Shapes: (N, D) -> scalar.
    Switches: ``gate`` (GD), ``exp_weights`` (÷τ and the c_i weights, else c_i = 1/N),
    ``explicit_ratio`` (× r). Stats: cosine keys (+ gd_mean, w_hardest, ratio_mean when on).
    """

    def __init__(
        self,
        *,
        lambd: float = 10.0,
        gate: GateMode = "none",
        margin: float = 0.30,
        exp_weights: bool = False,
        temperature: float = 0.05,
        explicit_ratio: bool = False,
        ratio: float = 1.75,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(
            lambd=lambd, gate=gate, margin=margin, exp_weights=exp_weights, temperature=temperature,
            explicit_ratio=explicit_ratio, ratio=ratio, gather_across_devices=gather_across_devices,
        )

    def _uniformity(self, rows: Tensor, cols: Tensor, views: Views) -> tuple[Tensor, Tensor, Tensor]:
        """(LSE over all pairs i>j of the view, per-row LSE_{j≠i} (n,), hardest-negative share)."""
        scale = 1 / self.temperature if self.exp_weights else 1.0
        logits = fill_positive(rows @ cols.T * scale, views.pos, float("-inf"))
        row_lse = torch.logsumexp(logits, dim=1)
        # Σ_{i>j} e^{s_ij} = ½ Σ_i Σ_{j≠i} e^{s_ij}: rows of every rank, gathered with gradient.
        pair_lse = torch.logsumexp(views.gather(row_lse), dim=0) - math.log(2)
        with torch.no_grad():
            share = (logits.max(dim=1).values - row_lse).exp().mean()
        return pair_lse, row_lse, share

    def objective(self, views: Views) -> tuple[Tensor, dict[str, Tensor]]:
        uni_u, lse_u, share_u = self._uniformity(views.u, views.u_all, views)
        uni_v, lse_v, share_v = self._uniformity(views.v, views.v_all, views)
        if self.exp_weights:
            c_u = (lse_u - uni_u).detach().exp() / self.temperature
            c_v = (lse_v - uni_v).detach().exp() / self.temperature
        else:
            c_u = c_v = 1.0 / views.m
        r = self.ratio if self.explicit_ratio else 1.0
        align_term = (alignment(views.u, views.v) * (c_u + c_v)).sum() * r / 2
        loss = self.lambd * (uni_u + uni_v) + views.world_size * align_term
        return loss, ({"w_hardest": (share_u + share_v) / 2} if self.exp_weights else {})

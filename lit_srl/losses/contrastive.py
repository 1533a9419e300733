"""The four contrastive losses of the paper in closed form (Li, Zhang & Nie, ACL 2024, §2).

One direction as in the official code: anchors u_i (view 0) against v_j (view 1), s_ij = u_i·v_j,
mean over anchors; ``symmetric=True`` averages both directions. Shapes: z1, z2 (N, D) -> scalar.
Every loss reports all six statistics and ``components(z1, z2)``; ``as_assembled()`` returns the
:class:`~lit_srl.losses.assembled.AssembledLoss` with the same components (same anchor gradient).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_srl.losses import components as comp
from lit_srl.losses.assembled import AssembledLoss
from lit_srl.losses.base import Components
from lit_srl.losses.pairwise import ContrastiveLoss
from lit_srl.losses.validation import check_nonnegative, check_positive


class InfoNCE(ContrastiveLoss):
    """InfoNCE / unsupervised SimCSE (Gao et al., EMNLP 2021).

        L_i = −log( e^{s_ii/τ} / Σ_k e^{s_ik/τ} ),  τ = 0.05

    GD_i = 1/(1 + e^{s_ii/τ}/Σ_{j≠i} e^{s_ij/τ}); W_ij = softmax_{j≠i}(s_ij/τ); R_i = 1; c = 1/τ.
    """

    def __init__(
        self, *, temperature: float = 0.05, symmetric: bool = False, gather_across_devices: bool = True
    ) -> None:
        super().__init__(symmetric=symmetric, gather_across_devices=gather_across_devices)
        self.temperature = check_positive("temperature", temperature)

    def per_anchor(self, s: Tensor, pos: Tensor) -> Tensor:
        return F.cross_entropy(s / self.temperature, pos, reduction="none")

    @torch.no_grad()
    def components_of(self, sims: comp.PairSims) -> Components:
        t = self.temperature
        return Components(
            comp.gd_infonce(sims, t), comp.weight_softmax(sims, t), comp.ratio_constant(sims, 1.0), 1 / t
        )

    def as_assembled(self) -> AssembledLoss:
        t = self.temperature
        return AssembledLoss(
            gd="infonce", gd_temperature=t, weight="softmax", weight_temperature=t, ratio="constant",
            ratio_value=1.0, scale=1 / t, symmetric=self.symmetric, gather_across_devices=self.gather_across_devices,
        )


class ArcCon(ContrastiveLoss):
    """ArcCon (Zhang et al., ACL 2022): InfoNCE with an additive angular margin on the positive.

        L_i = −log( e^{cos(θ_ii+u)/τ} / (e^{cos(θ_ii+u)/τ} + Σ_{j≠i} e^{s_ij/τ}) ),  θ = arccos s,
        τ = 0.05, u = π/18 (10°)

    GD_i = 1/(1 + e^{cos(θ_ii+u)/τ}/Σ_{j≠i} e^{s_ij/τ}); W_ij = softmax_{j≠i}(s_ij/τ);
    R_i = sin(θ_ii+u)/sin θ_ii; c = 1/τ. (s_ii is clamped inside (−1, 1) for a finite gradient.)
    """

    def __init__(
        self,
        *,
        temperature: float = 0.05,
        margin: float = math.pi / 18,
        symmetric: bool = False,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(symmetric=symmetric, gather_across_devices=gather_across_devices)
        self.temperature = check_positive("temperature", temperature)
        self.margin = check_nonnegative("margin", margin)

    def per_anchor(self, s: Tensor, pos: Tensor) -> Tensor:
        positive = comp.arc_logit(comp.safe_angle(comp.positive_sim(s, pos)), self.margin)
        logits = s.scatter(1, pos[:, None], positive[:, None])
        return F.cross_entropy(logits / self.temperature, pos, reduction="none")

    @torch.no_grad()
    def components_of(self, sims: comp.PairSims) -> Components:
        t, u = self.temperature, self.margin
        return Components(
            comp.gd_arccon(sims, t, u), comp.weight_softmax(sims, t), comp.ratio_arccon(sims, u), 1 / t
        )

    def as_assembled(self) -> AssembledLoss:
        t = self.temperature
        return AssembledLoss(
            gd="arccon", gd_temperature=t, arc_margin=self.margin, weight="softmax", weight_temperature=t,
            ratio="arccon", scale=1 / t, symmetric=self.symmetric, gather_across_devices=self.gather_across_devices,
        )


class MPT(ContrastiveLoss):
    """Margin product triplet loss on the hardest in-batch negative (cosine hinge).

        L_i = max(0, max_{j≠i} s_ij − s_ii + m),  m = 0.23

    GD_i = 1[s_ii − max_{j≠i} s_ij < m]; W = one-hot on j* = argmax_{j≠i} s_ij; R_i = 1; c = 1.
    """

    def __init__(self, *, margin: float = 0.23, symmetric: bool = False, gather_across_devices: bool = True) -> None:
        super().__init__(symmetric=symmetric, gather_across_devices=gather_across_devices)
        self.margin = check_nonnegative("margin", margin)

    def per_anchor(self, s: Tensor, pos: Tensor) -> Tensor:
        hardest, _ = comp.hardest_negative(s, pos)
        return F.relu(hardest - comp.positive_sim(s, pos) + self.margin)

    @torch.no_grad()
    def components_of(self, sims: comp.PairSims) -> Components:
        return Components(
            comp.gd_gate(sims, self.margin), comp.weight_hardest(sims), comp.ratio_constant(sims, 1.0), 1.0
        )

    def as_assembled(self) -> AssembledLoss:
        return AssembledLoss(
            gd="gate", gd_margin=self.margin, weight="hardest", ratio="constant", ratio_value=1.0, scale=1.0,
            symmetric=self.symmetric, gather_across_devices=self.gather_across_devices,
        )


class MET(ContrastiveLoss):
    """Margin Euclidean triplet loss on the nearest in-batch negative (Euclidean hinge).

        L_i = max(0, d_ii − min_{j≠i} d_ij + m),  d = sqrt(max(2 − 2s, 1e-4)),  m = 0.45

    GD_i = 1[min_{j≠i} d_ij − d_ii < m]; W = (1/d_ij*) one-hot(j*), j* = argmin_{j≠i} d_ij;
    R_i = d_ij*/d_ii; c = 1.
    """

    def __init__(self, *, margin: float = 0.45, symmetric: bool = False, gather_across_devices: bool = True) -> None:
        super().__init__(symmetric=symmetric, gather_across_devices=gather_across_devices)
        self.margin = check_nonnegative("margin", margin)

    def per_anchor(self, s: Tensor, pos: Tensor) -> Tensor:
        d_pos, d_nearest = comp.nearest_negative_distance(s, pos)
        return F.relu(d_pos - d_nearest + self.margin)

    @torch.no_grad()
    def components_of(self, sims: comp.PairSims) -> Components:
        return Components(
            comp.gd_gate_euclidean(sims, self.margin), comp.weight_hardest_euclidean(sims), comp.ratio_met(sims), 1.0
        )

    def as_assembled(self) -> AssembledLoss:
        return AssembledLoss(
            gd="gate_euclidean", gd_margin=self.margin, weight="hardest_euclidean", ratio="met", scale=1.0,
            symmetric=self.symmetric, gather_across_devices=self.gather_across_devices,
        )

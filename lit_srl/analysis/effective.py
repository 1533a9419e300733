"""Effective gradient components of any loss, read off autograd (Li, Zhang & Nie, ACL 2024, §3).

The unified paradigm writes the gradient of a contrastive loss at the normalised anchor u_i as

    ∂L_i/∂u_i = c · GD_i · Σ_{j≠i} W_ij (v_j − R_i v_i)        (then projected on T_{u_i} S^{D−1})

with u_i = h_i/‖h_i‖ (view 0), v_j = h'_j/‖h'_j‖ (view 1), Σ_{j≠i} W_ij = 1 for InfoNCE. For a
loss without closed-form components (Barlow Twins, VICReg, MHE, MHS, …) this module *measures*
them. For a batch z1, z2 (N, D):

1. u, v = z1/‖z1‖, z2/‖z2‖ become float64 leaf tensors; L = loss_fn(u, v).loss. Losses normalise
   internally, which is the identity on unit vectors, so L is the loss of the batch (checked:
   ``loss_gap`` = |L(u, v) − L(z1, z2)| / max(1, |L|), a warning above 1e-6).
2. g_i = P_i ∂L/∂u_i with P_i = I − u_i u_iᵀ (the tangent projection), (N, D).
3. Per anchor, least squares in the projected basis
       g_i ≈ Σ_{j=1..N} a_ij P_i v_j + Σ_{j≠i} b_ij P_i u_j          (b only with ``in_view``)
   batched over anchors (``torch.linalg.lstsq`` on (N, D, K), K = 2N − 1 or N, float64). The K
   projected vectors must be linearly independent inside the (D − 1)-dimensional tangent space:
   **D ≥ 2N** with ``in_view`` (D ≥ N + 1 without); generic embeddings then give a unique fit.
4. Coefficients are multiplied by ``scale`` (default N: a loss that is the mean over N anchors
   has ∂L/∂u_i = (1/N) ∂L_i/∂u_i, so scale = N restores the per-anchor gradient of the paradigm).
   Sentence j ≠ i is a negative through either view: its coefficient is n_ij = a_ij + b_ij.

       GD_eff_i = Σ_{j≠i} n_ij / c_norm,     W_eff_ij = n_ij / Σ_{k≠i} n_ik  (j ≠ i; W_ii = 0),
       R_eff_i  = −a_ii / Σ_{j≠i} n_ij,
       residual_i = ‖g_i − fit_i‖ / ‖g_i‖,   in_view_share_i = ‖Σ_j b_ij P_i u_j‖ / ‖fit_i‖.

   (the in-view share exceeds 1 when the in-view and cross-view parts partly cancel, as in
   Barlow Twins.)

   Sign convention: the coefficients are those of the gradient (not of the descent step), so for
   InfoNCE, ∂L_i/∂u_i = (1/τ) GD_i Σ_{j≠i} W_ij (v_j − v_i) gives GD_eff = c·GD with c = 1/τ, W_eff
   = W, R_eff = 1. ``normalize_constant`` (c_norm) divides GD_eff by a given c (``True``: the
   loss's own ``components(...).constant`` when it has one) so that GD_eff = GD. In general the
   closed-form components map to GD_eff = c·GD·Σ_{j≠i} W_ij / c_norm and W_eff = W/Σ_{j≠i} W_ij
   (MET: W_ij* = 1/d_ij*, so GD_eff = GD/d_ij* and W_eff is one-hot), R_eff = R.

Anchors whose gradient vanishes (a hinge that is inactive, GD = 0) get GD_eff = 0 and NaN W, R,
residual, in-view share (``defined`` is False). The paradigm's W and R need Σ_{j≠i} n_ij ≠ 0.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_srl.losses.components import hardest_negative


@dataclass
class EffectiveComponents:
    """Measured components of one batch (N anchors; see the module docstring for the formulas).

    gd (N,), weight (N, N) zero diagonal with rows summing to 1, ratio (N,), residual (N,),
    in_view_share (N,); ``cross`` (N, N) = scale·a (coefficients on v_j, diagonal on the
    positive), ``in_view`` (N, N) = scale·b (coefficients on u_j, zero diagonal); ``hardest`` (N,)
    the column argmax_{j≠i} u_i·v_j; ``defined`` (N,) anchors with a nonzero gradient and
    Σ_{j≠i} n_ij ≠ 0; ``loss_gap`` the relative gap between the loss on (u, v) and on (z1, z2).
    """

    gd: Tensor
    weight: Tensor
    ratio: Tensor
    residual: Tensor
    in_view_share: Tensor
    cross: Tensor
    in_view: Tensor
    hardest: Tensor
    defined: Tensor
    loss_gap: float

    def w_hardest(self) -> Tensor:
        """W_eff of the hardest negative (largest cosine u_i·v_j, j ≠ i) per anchor: (N,)."""
        return self.weight.gather(1, self.hardest[:, None]).squeeze(1)

    def summary(self) -> dict[str, float]:
        """Batch means: gd_mean (all anchors), w_hardest, ratio_mean, residual, in_view_share
        (over the ``defined`` anchors; NaN when none is)."""

        def mean(x: Tensor) -> float:
            x = x[self.defined]
            return float(x.mean()) if x.numel() else math.nan

        return {
            "gd_mean": float(self.gd.mean()),
            "w_hardest": mean(self.w_hardest()),
            "ratio_mean": mean(self.ratio),
            "residual": mean(self.residual),
            "in_view_share": mean(self.in_view_share),
        }


def min_dimension(n: int, in_view: bool = True) -> int:
    """Smallest embedding size D for which the fit of N anchors is well posed (2N or N + 1)."""
    return 2 * n if in_view else n + 1


def max_anchors(dim: int, in_view: bool = True) -> int:
    """Largest N whose fit is well posed in D = ``dim`` dimensions (⌊D/2⌋ or D − 1)."""
    return dim // 2 if in_view else dim - 1


def local_loss(loss_fn: torch.nn.Module) -> torch.nn.Module:
    """``loss_fn`` itself, or under an initialised process group a copy whose (sub)modules have
    ``gather_across_devices = False``: the analysis is of this rank's rows alone."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return loss_fn
    local = copy.deepcopy(loss_fn)
    for module in local.modules():
        if hasattr(module, "gather_across_devices"):
            module.gather_across_devices = False
    return local


def _loss_value(out) -> Tensor:
    return out.loss if hasattr(out, "loss") else out


def tangent_basis(u: Tensor, v: Tensor, in_view: bool = True) -> Tensor:
    """Projected basis per anchor, (N, D, K): columns P_i v_j (j = 1..N), then P_i u_j (j ≠ i).

    P_i x = x − (u_i·x) u_i; K = 2N − 1 with ``in_view``, else N.
    """
    n, d = u.shape
    pv = v.T.unsqueeze(0) - u.unsqueeze(2) * (u @ v.T).unsqueeze(1)  # (N, D, N)
    if not in_view:
        return pv
    pu = u.T.unsqueeze(0) - u.unsqueeze(2) * (u @ u.T).unsqueeze(1)  # (N, D, N), column i is 0
    others = torch.arange(n, device=u.device).expand(n, n)[~torch.eye(n, dtype=torch.bool, device=u.device)]
    others = others.view(n, n - 1)
    pu = pu.gather(2, others.unsqueeze(1).expand(n, d, n - 1))  # (N, D, N − 1)
    return torch.cat([pv, pu], dim=2)


def _constant(loss_fn, z1: Tensor, z2: Tensor, normalize_constant) -> float:
    if normalize_constant is None or normalize_constant is False:
        return 1.0
    if normalize_constant == "auto":
        return float(loss_fn.components(z1[:2], z2[:2]).constant) if hasattr(loss_fn, "components") else 1.0
    if normalize_constant is True:
        if not hasattr(loss_fn, "components"):
            raise ValueError(
                f"normalize_constant=True needs a loss with components(); {type(loss_fn).__name__} has none: "
                "pass the constant as a float"
            )
        return float(loss_fn.components(z1[:2], z2[:2]).constant)
    return float(normalize_constant)


def effective_components(
    loss_fn: torch.nn.Module,
    z1: Tensor,
    z2: Tensor,
    in_view: bool = True,
    normalize_constant: Union[None, bool, float, str] = None,
    scale: Optional[float] = None,
    tol: float = 1e-9,
) -> EffectiveComponents:
    """Measure GD, W, R of ``loss_fn`` on a batch by least squares on its autograd gradient.

    Args:
        loss_fn: any lit_srl loss, ``loss_fn(z1, z2)`` returning a LossOutput (or a scalar).
        z1, z2: (N, D) embeddings of views 0 and 1 (detached; computed in float64 on their device).
        in_view: also fit the in-view directions P_i u_j (needs D ≥ 2N; else D ≥ N + 1).
        normalize_constant: divide GD_eff by c: a float, ``True`` (the loss's own c; error if it
            has no ``components``) or ``"auto"`` (the loss's own c if it has one, else 1).
        scale: multiplier of the coefficients; default N (the mean over anchors).
        tol: relative threshold below which a gradient or Σ_{j≠i} n_ij counts as zero.

    Returns:
        :class:`EffectiveComponents` (see the module docstring for the formulas).
    """
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"expected two (N, D) tensors of equal shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n, d = z1.shape
    if n < 2:
        raise ValueError("effective_components needs N ≥ 2 anchors (one negative at least)")
    if d < min_dimension(n, in_view):
        raise ValueError(
            f"the least squares of {n} anchors needs D ≥ {min_dimension(n, in_view)} (D = {d}): "
            f"use at most {max_anchors(d, in_view)} anchors"
        )
    loss_fn = local_loss(loss_fn)
    z1 = z1.detach().to(torch.float64)
    z2 = z2.detach().to(torch.float64)
    u = F.normalize(z1, dim=-1).requires_grad_(True)
    v = F.normalize(z2, dim=-1)
    with torch.enable_grad():
        loss = _loss_value(loss_fn(u, v))
        grad = torch.autograd.grad(loss, u, allow_unused=True)[0]
    with torch.no_grad():
        raw = float(_loss_value(loss_fn(z1, z2)))
        loss_gap = abs(float(loss) - raw) / max(1.0, abs(raw))
        if loss_gap > 1e-6:
            warnings.warn(
                f"{type(loss_fn).__name__} changes value on normalised inputs (relative gap {loss_gap:.2e}): "
                "the analysis is of the loss restricted to unit vectors",
                stacklevel=2,
            )
        u = u.detach()
        g = torch.zeros_like(u) if grad is None else grad.detach()
        g = g - (g * u).sum(dim=1, keepdim=True) * u  # tangent projection P_i g_i
        basis = tangent_basis(u, v, in_view)  # (N, D, K)
        coef = torch.linalg.lstsq(basis, g.unsqueeze(-1)).solution.squeeze(-1)  # (N, K)
        fit = (basis @ coef.unsqueeze(-1)).squeeze(-1)
        g_norm = g.norm(dim=1)
        nonzero = g_norm > tol * g_norm.max().clamp_min(torch.finfo(g.dtype).tiny)

        c = _constant(loss_fn, z1, z2, normalize_constant)
        scaled = coef * (n if scale is None else float(scale))
        eye = torch.eye(n, dtype=torch.bool, device=u.device)
        cross = scaled[:, :n]
        in_view_coef = torch.zeros_like(cross)
        if in_view:
            in_view_coef[~eye] = scaled[:, n:].reshape(-1)
        negatives = (cross + in_view_coef).masked_fill(eye, 0.0)
        total = negatives.sum(dim=1)  # Σ_{j≠i} n_ij
        tiny = torch.finfo(g.dtype).tiny
        defined = nonzero & (total.abs() > tol * negatives.abs().sum(dim=1).clamp_min(tiny))
        nan = torch.full_like(total, math.nan)
        safe_total = torch.where(defined, total, torch.ones_like(total))
        weight = torch.where(defined[:, None], negatives / safe_total[:, None], nan[:, None].expand(n, n))
        ratio = torch.where(defined, -cross.diagonal() / safe_total, nan)
        gd = torch.where(nonzero, total / c, torch.zeros_like(total))
        residual = torch.where(nonzero, (g - fit).norm(dim=1) / g_norm.clamp_min(tiny), nan)
        if in_view:
            fit_in = (basis[:, :, n:] @ coef[:, n:].unsqueeze(-1)).squeeze(-1)
            share = torch.where(nonzero, fit_in.norm(dim=1) / fit.norm(dim=1).clamp_min(tiny), nan)
        else:
            share = torch.where(nonzero, torch.zeros_like(total), nan)
        hardest = hardest_negative(u @ v.T, torch.arange(n, device=u.device))[1]
    return EffectiveComponents(
        gd=gd, weight=weight, ratio=ratio, residual=residual, in_view_share=share, cross=cross,
        in_view=in_view_coef, hardest=hardest, defined=defined, loss_gap=loss_gap,
    )

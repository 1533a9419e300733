"""Detached 0-dim statistics reported in ``LossOutput.stats``."""

from __future__ import annotations

import torch
from torch import Tensor

from lit_srl.losses.components import PairSims


@torch.no_grad()
def cosine_stats(sims: PairSims) -> dict[str, Tensor]:
    """Cross-view cosines: mean positive, mean negative, mean of each anchor's hardest negative."""
    n, m = sims.s.shape
    return {
        "cos_pos_mean": sims.s_pos.mean(),
        "cos_neg_mean": (sims.s.sum() - sims.s_pos.sum()) / max(n * (m - 1), 1),
        "cos_neg_max_mean": sims.hardest[0].mean(),
    }


@torch.no_grad()
def component_stats(
    gd: Tensor, weight: Tensor, ratio: Tensor, sims: PairSims, weight_sums: Tensor | None = None
) -> dict[str, Tensor]:
    """gd_mean, w_hardest (mean over anchors of W[i, argmax_{j≠i} s_ij] / Σ_j W_ij), ratio_mean."""
    w = weight.detach()
    hardest = w.gather(1, sims.hardest[1][:, None]).squeeze(1)
    sums = w.sum(dim=1) if weight_sums is None else weight_sums.detach()
    share = hardest / sums.clamp_min(torch.finfo(w.dtype).tiny)
    return {"gd_mean": gd.detach().mean(), "w_hardest": share.mean(), "ratio_mean": ratio.detach().mean()}


def average_stats(parts: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Key-wise mean of several directions' statistics."""
    if len(parts) == 1:
        return parts[0]
    keys = list(parts[0])
    means = torch.stack([torch.stack([p[k] for k in keys]) for p in parts]).mean(dim=0)
    return dict(zip(keys, means.unbind()))

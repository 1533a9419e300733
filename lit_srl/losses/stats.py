"""The statistics a loss reports about its batch: one producer for ``LossOutput`` and the monitor.

Every statistic describes the view-0 → view-1 direction (the direction of ``components()`` and
of the paper): this rank's n anchors u_i (view 0) against the M columns v_j of every rank
(view 1), s_ij = u_i·v_j, the positive of anchor i at column pos_i. Means are over this rank's
anchors, so the mean over ranks (equal local batches) is the statistic of the global batch.

* :func:`cosine_stats`, :func:`component_stats`: detached 0-dim scalars of ``LossOutput.stats``,
  computed in every forward (a few O(n·M) passes).
* :class:`StatDetails` (``LossOutput.details``): what costs more — the in-view similarity matrix
  of the uniformity, the samples of the histograms — computed only when asked for.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from lit_srl.losses.components import PairSims
from lit_srl.losses.distributed import gather_rows


@torch.no_grad()
def cosine_stats(sims: PairSims) -> dict[str, Tensor]:
    """Cross-view cosines: mean positive s_ii, mean negative s_ij (j ≠ i), mean of each anchor's
    hardest negative max_{j≠i} s_ij."""
    n, m = sims.s.shape
    neg_mean = (sims.s.sum() - sims.s_pos.sum()) / (n * (m - 1)) if m > 1 else sims.s.new_tensor(math.nan)
    return {"cos_pos_mean": sims.s_pos.mean(), "cos_neg_mean": neg_mean, "cos_neg_max_mean": sims.s_hardest.mean()}


@torch.no_grad()
def component_stats(
    gd: Tensor, weight: Tensor, ratio: Tensor, sims: PairSims, weight_sums: Tensor | None = None
) -> dict[str, Tensor]:
    """gd_mean, w_hardest (mean over anchors of W[i, argmax_{j≠i} s_ij] / Σ_j W_ij), ratio_mean.

    gd, ratio (n,); weight (n, M); weight_sums (n,): Σ_j W_ij when the caller has it already.
    """
    w = weight.detach()
    hardest = w.gather(1, sims.hardest[1][:, None]).squeeze(1)
    sums = w.sum(dim=1) if weight_sums is None else weight_sums.detach()
    share = hardest / sums.clamp_min(torch.finfo(w.dtype).tiny)
    return {"gd_mean": gd.detach().mean(), "w_hardest": share.mean(), "ratio_mean": ratio.detach().mean()}


class StatDetails:
    """The statistics of a batch that cost more than ``LossOutput.stats``, computed when asked for
    (the gradient monitor asks on its logging steps only).

    Args:
        sims: the view-0 → view-1 cosines (n, M) of this rank's anchors.
        u, v: (n, D) this rank's unit vectors of views 0 and 1.
        gd: (n,) GD of the anchors, for losses with analytic components (else no GD samples), or
            a function that computes it when the samples are asked for.
        distributed: gather the view-0 rows of every rank for the uniformity (a collective: under
            DDP every rank must ask together, as the monitor does).
    """

    def __init__(
        self, sims: PairSims, u: Tensor, v: Tensor, gd: Tensor | Callable[[], Tensor] | None = None,
        distributed: bool = False,
    ) -> None:
        self.sims = sims
        self.u, self.v = u.detach(), v.detach()
        self._gd = gd
        self.distributed = distributed

    @property
    def gd(self) -> Tensor | None:
        """(n,) GD of the anchors, or None."""
        if callable(self._gd):
            self._gd = self._gd()
        return None if self._gd is None else self._gd.detach()

    @torch.no_grad()
    def means(self) -> dict[str, Tensor]:
        """0-dim means over this rank's anchors (Wang & Isola, 2020):

        alignment = mean_i ‖u_i − v_i‖² (α = 2);
        uniformity_exp = mean_{i, j≠i} e^{−2‖u_i − u_j‖²} over every rank's view-0 rows u_j (t = 2);
        the uniformity is the log of its mean over ranks.
        """
        u_all = gather_rows(self.u) if self.distributed else self.u
        sq = (2 - 2 * (self.u @ u_all.T)).clamp_min(0)  # ‖u_i − u_j‖² of unit vectors; column pos_i is u_i
        off = self.sims.negative_mask
        if u_all.shape[0] > 1:  # a masked sum, not sq[off]: a boolean index's size waits for the device
            uniformity_exp = torch.where(off, torch.exp(-2 * sq), 0).sum() / off.sum()
        else:
            uniformity_exp = sq.new_tensor(math.nan)
        return {"alignment": (self.u - self.v).pow(2).sum(-1).mean(), "uniformity_exp": uniformity_exp}

    @torch.no_grad()
    def masked_samples(self) -> dict[str, tuple[Tensor, Tensor | None]]:
        """The samples of :meth:`samples` in shapes that do not depend on the data: name →
        (values (k,), keep (k,) bool or None for all). cos_neg is every s_ij with keep = j ≠ i, so a
        reduction over it (a histogram, a sum) asks the device for nothing."""
        out = {"cos_pos": (self.sims.s_pos, None), "cos_neg": (self.sims.s.reshape(-1), self.sims.negative_mask.reshape(-1))}
        gd = self.gd
        if gd is not None:
            out["gd"] = (gd, None)
        return out

    def samples(self) -> dict[str, Tensor]:
        """1-D samples for histograms: cos_pos (n,) s_ii, cos_neg (n·(M − 1),) s_ij with j ≠ i,
        and gd (n,) when the loss has analytic components."""
        return {key: x if keep is None else x[keep] for key, (x, keep) in self.masked_samples().items()}

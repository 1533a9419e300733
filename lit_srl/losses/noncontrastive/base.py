"""Base of the non-contrastive objectives (alignment + a uniformity / decorrelation term).

"ori" is the objective as published; "mod" (Li, Zhang & Nie, ACL 2024, §5) switches on three
components of the paradigm: a GD gate, exponential weights (τ) and an explicit ratio r. The gate
keeps anchor i's gradient iff it is not yet separated from its nearest neighbour; gated rows are
replaced by detached copies everywhere (value kept, no gradient):

  ``in_view`` (official): keep u_i iff 1 − max_{j≠i} u_i·u_j < m (likewise v with v);
  ``cross_view``: keep u_i iff u_i·v_i − max_{j≠i} u_i·v_j < m (v_i against the u_j).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import Tensor

from lit_srl.losses.base import STAT_KEYS, LossOutput, SentenceLoss
from lit_srl.losses.batch import PairBatch
from lit_srl.losses.components import PairSims
from lit_srl.losses.stats import cosine_stats
from lit_srl.losses.validation import check_choice, check_nonnegative, check_positive

GateMode = Literal["none", "in_view", "cross_view"]
GATE_MODES = ("none", "in_view", "cross_view")
COSINE_KEYS = ("cos_pos_mean", "cos_neg_mean", "cos_neg_max_mean")


@dataclass
class Views:
    """Gated unit vectors: local (n, D) and all ranks' (M, D), positives at ``pos``; gather ops."""

    u: Tensor
    v: Tensor
    u_all: Tensor
    v_all: Tensor
    pos: Tensor
    world_size: int
    gather: Callable[[Tensor], Tensor]

    @property
    def m(self) -> int:
        return self.u_all.shape[0]


def gate(x: Tensor, keep: Tensor) -> Tensor:
    """Rows of ``x`` where ``keep``; detached copies elsewhere."""
    return torch.where(keep[:, None], x, x.detach())


def alignment(u: Tensor, v: Tensor) -> Tensor:
    """align_i = ‖u_i − v_i‖² = 2 − 2 u_i·v_i, gradient on both sides: (n,)."""
    return 2 - 2 * (u * v).sum(dim=1)


class NonContrastiveLoss(SentenceLoss):
    """Settings, gating, gathering and statistics shared by MHE, MHS, VICReg and Barlow Twins.

    Subclasses implement ``objective(views) -> (loss, extra stats)``; under DDP it must return a
    per-rank loss whose mean over ranks is the global-batch loss (see ``distributed``).
    Stats: the cosine keys, plus ``gd_mean`` (fraction of rows kept) when a gate is on,
    ``w_hardest`` with exponential weights, ``ratio_mean`` with the explicit ratio.

    Args:
        lambd: weight λ of the uniformity / decorrelation term.
        gate: the GD switch (module docstring); margin: its m.
        exp_weights: the W switch, exponential weights at ``temperature`` (objectives without it
            leave it off).
        explicit_ratio: the R switch, the alignment term × ``ratio``.
        gather_across_devices: see :class:`SentenceLoss`.
    """

    def __init__(
        self,
        *,
        lambd: float,
        gate: GateMode = "none",
        margin: float = 0.30,
        exp_weights: bool = False,
        temperature: float = 0.05,
        explicit_ratio: bool = False,
        ratio: float = 1.0,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(gather_across_devices=gather_across_devices)
        self.lambd = check_nonnegative("lambd", lambd)
        self.gate = check_choice("gate", gate, GATE_MODES)
        self.margin = check_nonnegative("margin", margin)
        self.exp_weights = bool(exp_weights)
        self.temperature = check_positive("temperature", temperature)
        self.explicit_ratio = bool(explicit_ratio)
        self.ratio = check_nonnegative("ratio", ratio)

    def objective(self, views: Views) -> tuple[Tensor, dict[str, Tensor]]:  # pragma: no cover
        raise NotImplementedError

    def stat_keys(self) -> tuple[str, ...]:
        keys = set(COSINE_KEYS)
        if self.gate != "none":
            keys.add("gd_mean")
        if self.exp_weights:
            keys.add("w_hardest")
        if self.explicit_ratio:
            keys.add("ratio_mean")
        return tuple(k for k in STAT_KEYS if k in keys)

    @torch.no_grad()
    def _keep(self, rows: Tensor, same_all: Tensor, cross: PairSims) -> Tensor:
        """Rows whose gradient the gate keeps: (n,) bool."""
        if self.gate == "in_view":
            return 1 - PairSims(rows @ same_all.T, cross.pos).s_hardest < self.margin
        return cross.s_pos - cross.s_hardest < self.margin

    def compute(self, z1: Tensor, z2: Tensor) -> LossOutput:
        """z1, z2: (N, D) raw embeddings of views 0 and 1 -> LossOutput."""
        batch = PairBatch(z1, z2, gather=self.gather_across_devices)
        u, v, u_all, v_all, pos = batch.u, batch.v, batch.u_all, batch.v_all, batch.pos
        with torch.no_grad():
            cross = PairSims(u @ v_all.T, pos)
        kept: list[Tensor] = []
        if self.gate != "none":
            cross_v = cross
            if self.gate == "cross_view":
                with torch.no_grad():  # one process: the reverse cross-view cosines are the transpose
                    cross_v = PairSims(cross.s.T if batch.world_size == 1 else v @ u_all.T, pos)
            keep_u = self._keep(u, u_all.detach(), cross)
            keep_v = self._keep(v, v_all.detach(), cross_v)
            kept = [keep_u, keep_v]
            keep_u_all = batch.gather(keep_u.to(u.dtype)) > 0.5
            keep_v_all = batch.gather(keep_v.to(u.dtype)) > 0.5
            u, v = gate(u, keep_u), gate(v, keep_v)
            u_all, v_all = gate(u_all, keep_u_all), gate(v_all, keep_v_all)
        views = Views(u, v, u_all, v_all, pos, batch.world_size, batch.gather)
        loss, extra = self.objective(views)

        def stats() -> dict[str, Tensor]:  # computed when read (LossOutput)
            found = {**cosine_stats(cross), **extra}
            if kept:
                found["gd_mean"] = torch.cat(kept).to(u.dtype).mean()
            if self.explicit_ratio:
                found["ratio_mean"] = u.new_full((), self.ratio)  # a fill on the device, not a copy to it
            return {k: found[k].detach() for k in STAT_KEYS if k in found}

        return LossOutput(loss, stats, batch.stat_details(cross))

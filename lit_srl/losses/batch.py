"""The two views of a batch as unit vectors, local rows and (under DDP) all ranks' rows."""

from __future__ import annotations

from functools import cached_property
from typing import Callable

import torch
from torch import Tensor

from lit_srl.losses.base import to_unit
from lit_srl.losses.components import PairSims
from lit_srl.losses.distributed import gather_rows, sum_over_ranks, world
from lit_srl.losses.stats import StatDetails


class PairBatch:
    """u (n, D) and v (n, D): this rank's unit vectors of views 0 and 1.

    ``u_all``/``v_all`` (M, D), M = world_size·n: every rank's rows in rank order, gathered with
    gradients (the local tensors themselves when not distributed). ``pos`` (n,): the global column
    of each local anchor's positive, rank·n + i.
    """

    def __init__(self, z1: Tensor, z2: Tensor, gather: bool = True) -> None:
        if z1.dim() != 2 or z1.shape != z2.shape:
            raise ValueError(
                f"expected two (N, D) embeddings of equal shape, got {tuple(z1.shape)} and "
                f"{tuple(z2.shape)}; valid: z1, z2 of shape (N, D)"
            )
        self.u = to_unit(z1)
        self.v = to_unit(z2)
        self.rank, self.world_size = world() if gather else (0, 1)
        self.n = self.u.shape[0]
        self.pos = torch.arange(self.n, device=self.u.device) + self.rank * self.n

    def gather(self, x: Tensor) -> Tensor:
        """Every rank's ``x`` concatenated along dim 0 (differentiable); ``x`` if not gathering."""
        return gather_rows(x) if self.world_size > 1 else x

    def sum_over_ranks(self, x: Tensor) -> Tensor:
        return sum_over_ranks(x) if self.world_size > 1 else x

    @cached_property
    def u_all(self) -> Tensor:
        return self.gather(self.u)

    @cached_property
    def v_all(self) -> Tensor:
        return self.gather(self.v)

    def stat_details(self, sims: PairSims, gd: Tensor | Callable[[], Tensor] | None = None) -> StatDetails:
        """The costlier statistics of this batch's view-0 direction ``sims`` (see :class:`StatDetails`)."""
        return StatDetails(sims, self.u, self.v, gd, distributed=self.world_size > 1)

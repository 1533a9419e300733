"""Cross-device negatives: one differentiable gather, used by every loss.

Rule every loss follows under DDP (world size W, n local anchors, M = W·n global rows): rank r
returns a loss L_r whose mean over ranks is the loss of the concatenated global batch, with every
cross-rank dependency going through :func:`gather_rows`. Its backward sums the
gradients of each slice over the ranks and DDP averages parameter gradients, so the parameter
gradient equals the single-process gradient on the global batch. Mean-over-anchors losses hence
take the mean over local anchors; sum-over-anchors losses take W times the local sum; global
scalars (a log-sum-exp over all pairs) are computed identically on every rank from gathered
per-row terms.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world() -> tuple[int, int]:
    """(rank, world_size) of the default process group; (0, 1) when none is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherRows(torch.autograd.Function):
    """all_gather with a gradient: forward concatenates every rank's rows; backward sums the
    gradient of the whole gathered tensor over ranks (all_reduce) and returns this rank's slice.

    The same rule as ``torch.distributed.nn.functional.all_gather`` (deprecated in torch 2.13,
    whose suggested replacement is a private module), written with the public collectives.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        rank, world_size = world()
        ctx.rank, ctx.rows = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world_size)]
        dist.all_gather(parts, x)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_rows(x: Tensor) -> Tensor:
    """Every rank's ``x`` (n, ...) concatenated in rank order along dim 0: (W·n, ...).

    Differentiable (:class:`_GatherRows`: the gradient of each slice is summed over ranks and
    returned to its owner). Identity when not distributed. Ranks must pass equal shapes.
    """
    _, world_size = world()
    if world_size == 1:
        return x
    return _GatherRows.apply(x.contiguous())


def stack_over_ranks(x: Tensor) -> Tensor:
    """Every rank's ``x`` (any shape, equal on all ranks) stacked: (W, ...); (1, ...) with one process."""
    return gather_rows(x.unsqueeze(0))


def sum_over_ranks(x: Tensor) -> Tensor:
    """Sum of ``x`` (any shape) over ranks, via :func:`gather_rows` (differentiable)."""
    _, world_size = world()
    if world_size == 1:
        return x
    return stack_over_ranks(x).sum(dim=0)

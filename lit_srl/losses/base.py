"""The common interface: :class:`SentenceLoss`, its output :class:`LossOutput`, :class:`Components`.

A loss is called as ``loss(z1, z2)`` on the raw (unnormalised) embeddings of the two dropout views,
(N, D) each (row i of both is sentence i), and returns a :class:`LossOutput`. Similarities are
computed in float32 (float64 inputs stay float64) on the unit vectors u = z1/‖z1‖, v = z2/‖z2‖.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Mapping
from typing import Any, Callable, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_srl.losses.stats import StatDetails

#: Every statistic a loss may report; a loss omits those its objective does not define.
STAT_KEYS = ("gd_mean", "w_hardest", "ratio_mean", "cos_pos_mean", "cos_neg_mean", "cos_neg_max_mean")


class LazyStats(Mapping):
    """A loss's statistics (name → detached 0-dim tensor), computed when first read.

    A training step that nobody logs never reads them, so their few dozen small kernels are never
    launched (host time that a GPU step would wait for). They are computed as the loss computes
    (no autograd, no autocast: similarities in float32) from tensors of the same batch, so they
    describe the batch whenever they are read.
    """

    __slots__ = ("_compute", "_device_type", "_values")

    def __init__(self, compute: Callable[[], dict[str, Tensor]], device_type: str) -> None:
        self._compute, self._device_type = compute, device_type
        self._values: Optional[dict[str, Tensor]] = None

    def computed(self) -> dict[str, Tensor]:
        if self._values is None:
            with torch.no_grad(), torch.autocast(device_type=self._device_type, enabled=False):
                self._values = self._compute()
            self._compute = None  # drop what it held
        return self._values

    def __getitem__(self, key: str) -> Tensor:
        return self.computed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.computed())

    def __len__(self) -> int:
        return len(self.computed())

    def __repr__(self) -> str:
        return f"LazyStats({self._values!r})" if self._values is not None else "LazyStats(<not computed>)"


class LossOutput:
    """What a loss returns (see :mod:`lit_srl.losses.stats` for the statistics).

    ``loss``: scalar tensor to backpropagate. ``stats``: detached 0-dim tensors keyed by
    STAT_KEYS, a mapping; a loss may pass the function that computes them instead, and they are
    then computed when first read (:class:`LazyStats`). ``details``: the costlier statistics of
    the same batch (alignment, uniformity, histogram samples), computed only when asked for.
    """

    __slots__ = ("loss", "stats", "details")

    def __init__(
        self,
        loss: Tensor,
        stats: Union[Mapping[str, Tensor], Callable[[], dict[str, Tensor]], None] = None,
        details: Optional[StatDetails] = None,
    ) -> None:
        self.loss = loss
        self.stats: Mapping[str, Tensor] = (
            LazyStats(stats, loss.device.type) if callable(stats) else ({} if stats is None else stats)
        )
        self.details = details


class Components(NamedTuple):
    """The paradigm's components for one direction (rows = view-0 anchors, columns = view 1).

    ∂L_i/∂u_i = constant · gd_i · Σ_{j≠i} weight_ij (v_j − ratio_i · v_i)   (Li et al., ACL 2024)

    gd: (N,) gradient dissipation; weight: (N, N) weights of the negatives, zero diagonal;
    ratio: (N,); constant: the loss's c (1/τ for InfoNCE and ArcCon, 1 for MPT and MET).
    """

    gd: Tensor
    weight: Tensor
    ratio: Tensor
    constant: float


def to_unit(z: Tensor) -> Tensor:
    """L2-normalised rows of ``z`` in float32 (float64 stays float64): (N, D)."""
    if z.dtype != torch.float64:
        z = z.float()
    return F.normalize(z, dim=-1)


class SentenceLoss(nn.Module):
    """Base class of every loss: ``forward(z1, z2) -> LossOutput``.

    Constructor arguments are plain typed keywords; each instance records them (defaults applied)
    in ``init_args`` so that ``type(loss)(**loss.init_args)`` rebuilds it (checkpoints store
    ``{"class_path": ..., "init_args": loss.init_args}``). Subclasses need do nothing for this.

    Args:
        gather_across_devices: under an initialised process group with world size > 1, use every
            rank's embeddings as negatives (see :mod:`lit_srl.losses.distributed`).
    """

    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self: SentenceLoss, *args: Any, **kw: Any) -> None:
            depth = self.__dict__.get("_init_depth", 0)
            object.__setattr__(self, "_init_depth", depth + 1)
            try:
                original(self, *args, **kw)
            finally:
                object.__setattr__(self, "_init_depth", depth)
            if depth == 0:  # the outermost constructor records its own signature
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self.init_args = {k: v for k, v in bound.arguments.items() if k != "self"}
                del self.__dict__["_init_depth"]

        cls.__init__ = __init__  # type: ignore[method-assign]

    def __init__(self, *, gather_across_devices: bool = True) -> None:
        super().__init__()
        self.gather_across_devices = bool(gather_across_devices)

    def forward(self, z1: Tensor, z2: Tensor) -> LossOutput:
        """z1, z2: (N, D) raw embeddings of views 0 and 1 -> LossOutput.

        Autocast is switched off inside the loss, so that similarities stay float32 under
        bf16/fp16 mixed precision (a bf16 cosine near 1 has steps of ~0.004, 0.08 in logits at τ = 0.05).
        """
        with torch.autocast(device_type=z1.device.type, enabled=False):
            return self.compute(z1, z2)

    def compute(self, z1: Tensor, z2: Tensor) -> LossOutput:  # pragma: no cover - abstract
        """The loss itself (subclasses), run by :meth:`forward` outside autocast."""
        raise NotImplementedError

    def stat_keys(self) -> tuple[str, ...]:
        """The keys of ``forward(...).stats`` for this configuration."""
        return STAT_KEYS

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in getattr(self, "init_args", {}).items())

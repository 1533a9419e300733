"""Counting host–device synchronisations on the CPU, where no device says when the host waits.

On a GPU the host waits for the device whenever Python needs a tensor's value (``bool(t)``,
``t.item()``, ``float(t)``, ``t.tolist()``, ``t.cpu()``, ``t.to("cpu")``, ``t.equal(u)``, a copy into
host memory, …), whenever an op's output size depends on the data (``t.nonzero()``, ``t[mask]``,
``t[mask] = x``, ``masked_select``, ``argwhere``, ``torch.unique``, ``repeat_interleave`` of tensor
repeats), and when a Python number becomes a device tensor (``torch.tensor(x, device=…)``,
``t.new_tensor(x)``, ``host.to(device)``: a blocking copy). :class:`HostSyncCounter` patches those entry points and attributes each call to the first
calling frame outside torch, so a count can name its file and line (``torch.cuda.set_sync_debug_mode``
does the same on a GPU, from inside the driver).

Everything is on the CPU here, so a tensor made from host numbers on purpose (``torch.tensor(x)``
without a device, e.g. a progress-bar value) is told apart by its origin: such tensors, and what
``HOST_PRESERVING`` methods and ``.to(dtype)`` make of them, are *host values*; reading them is no
sync.
"""

from __future__ import annotations

import collections
import os
import sys
import warnings
import weakref
from typing import Callable

import torch

TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
HERE = os.path.abspath(__file__)

#: Tensor methods that hand a value (or a data-dependent size) to the host
VALUE_METHODS = (
    "__bool__", "__float__", "__int__", "__index__", "item", "tolist", "cpu", "numpy", "nonzero",
    "masked_select", "argwhere", "equal", "allclose",
)
#: torch functions of the same kind
VALUE_FUNCTIONS = ("nonzero", "masked_select", "argwhere", "unique", "equal", "allclose", "is_nonzero")


#: Tensor methods whose result stays where their input is (for telling host values apart)
HOST_PRESERVING = ("clone", "detach", "squeeze", "reshape", "view", "float", "double", "contiguous")


def _is_mask(index) -> bool:
    if isinstance(index, tuple):
        return any(_is_mask(i) for i in index)
    return isinstance(index, torch.Tensor) and index.dtype == torch.bool and index.dim() > 0


def _sets_through_a_mask(self, index, value) -> bool:
    return _is_mask(index)


def _sizes_from_data(*args, **kwargs) -> bool:
    """``repeat_interleave`` with tensor repeats and no ``output_size``: its size is read first."""
    if len(args) == 1 and "repeats" not in kwargs:
        return isinstance(args[0], torch.Tensor)  # torch.repeat_interleave(repeats)
    repeats = args[1] if len(args) > 1 else kwargs.get("repeats")
    return isinstance(repeats, torch.Tensor) and kwargs.get("output_size") is None


def _to_host_by_name(*args, **kwargs) -> bool:
    """``t.to("cpu")``, ``t.to(device="cpu")``: an explicit move to host memory. (On this CPU every
    device is ``cpu``, so a ``torch.device`` argument, such as a module's ``self.device``, cannot be
    told from a move within the device and is not counted.)"""
    targets = [a for a in args[1:] if isinstance(a, str)] + [d for d in (kwargs.get("device"),) if isinstance(d, str)]
    return any(t == "cpu" or t.startswith("cpu:") for t in targets)


def _names_a_device(*args, **kwargs) -> bool:
    return "device" in kwargs or any(isinstance(a, (str, torch.device)) for a in args) or any(
        isinstance(a, torch.Tensor) for a in args
    )


class HostSyncCounter:
    """Between :meth:`start` and :meth:`stop`, every sync-causing call is recorded as
    ``(kind, "file:line in function")`` of its first caller outside torch (``records``).

    The patches are in place only while counting: transformers builds its models with torch
    functions swapped for its own, and must find the originals.
    """

    def __init__(self) -> None:
        self.active = False
        self.records: list[tuple[str, str]] = []
        self._saved: list[tuple[object, str, object]] = []
        self._host_values: dict[int, weakref.ref] = {}  # id → tensor (tensors hash by identity, compare by value)

    # ------------------------------------------------------------------ patching
    def _record(self, kind: str) -> None:
        if not self.active:
            return
        where = first_caller_outside_torch(sys._getframe(2))
        self.active = False  # a patched call made by a patched call is the same sync
        try:
            self.records.append((kind, where))
        finally:
            self.active = True

    def _is_host(self, *args, **kwargs) -> bool:
        if not args or not isinstance(args[0], torch.Tensor):
            return False
        ref = self._host_values.get(id(args[0]))
        return ref is not None and ref() is args[0]

    def _wrap(self, owner, name: str, when: Callable[..., bool] = lambda *a, **k: True, host_result=None) -> None:
        """Record ``owner.name`` calls for which ``when(*args)`` holds; mark the result a host value
        where ``host_result(*args)`` holds."""
        original = getattr(owner, name)
        counter = self
        own = name in vars(owner)

        def patched(*args, **kwargs):
            if counter.active and when(*args, **kwargs):
                counter._record(name)
            out = original(*args, **kwargs)
            if host_result is not None and isinstance(out, torch.Tensor) and host_result(*args, **kwargs):
                counter._host_values[id(out)] = weakref.ref(out)
            return out

        self._saved.append((owner, name, original if own else None))
        setattr(owner, name, patched)

    def start(self) -> None:
        on_device = lambda *args, **kwargs: not self._is_host(*args)  # noqa: E731
        for name in VALUE_METHODS:
            self._wrap(torch.Tensor, name, on_device)
        for name in VALUE_FUNCTIONS:
            self._wrap(torch, name)
        self._wrap(torch.Tensor, "__getitem__", lambda self, index: _is_mask(index))
        self._wrap(torch.Tensor, "__setitem__", _sets_through_a_mask)
        self._wrap(torch, "repeat_interleave", _sizes_from_data)
        self._wrap(torch.Tensor, "repeat_interleave", _sizes_from_data)
        # a host value that receives a device tensor's data
        self._wrap(torch.Tensor, "copy_", lambda dst, src, *a, **k: self._is_host(dst) and not self._is_host(src))
        self._wrap(torch, "where", lambda *args, **kwargs: len(args) + len(kwargs) == 1)
        # a Python number that becomes a tensor on the model's device is a blocking copy there
        has_device = lambda *args, **kwargs: kwargs.get("device") is not None  # noqa: E731
        self._wrap(torch, "tensor", has_device, host_result=lambda *args, **kwargs: not has_device(*args, **kwargs))
        self._wrap(torch.Tensor, "new_tensor")
        for name in HOST_PRESERVING:
            self._wrap(torch.Tensor, name, lambda *a, **k: False, host_result=self._is_host)
        moves = lambda *args, **kwargs: self._is_host(*args) and _names_a_device(*args[1:], **kwargs)  # noqa: E731
        to_host = lambda *args, **kwargs: not self._is_host(*args) and _to_host_by_name(*args, **kwargs)  # noqa: E731
        self._wrap(
            torch.Tensor, "to", lambda *a, **k: moves(*a, **k) or to_host(*a, **k),
            host_result=lambda *a, **k: (self._is_host(*a) and not moves(*a, **k)) or to_host(*a, **k),
        )
        self.active = True

    def stop(self) -> None:
        self.active = False
        for owner, name, original in reversed(self._saved):
            if original is None:
                delattr(owner, name)  # the attribute was inherited (torch._C.TensorBase's slot)
            else:
                setattr(owner, name, original)
        self._saved.clear()

    # ------------------------------------------------------------------ reading
    def take(self) -> list[tuple[str, str]]:
        """The records since the last ``take``."""
        records, self.records = self.records, []
        return records


def first_caller_outside_torch(frame) -> str:
    """``"file:line in function"`` of the first frame from ``frame`` outward outside torch and this file."""
    while frame is not None and (
        frame.f_code.co_filename.startswith(TORCH_DIR) or frame.f_code.co_filename in (HERE, warnings.__file__)
    ):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}" if frame is not None else "?"


class CudaSyncCounter:
    """The same records on a GPU, from the driver: ``torch.cuda.set_sync_debug_mode("warn")``
    while counting, each warning attributed to its first caller outside torch."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []
        self._catcher = None

    def _show(self, message, *args, **kwargs) -> None:
        if "synchroniz" in str(message):
            self.records.append(("cuda sync", first_caller_outside_torch(sys._getframe(1))))

    def start(self) -> None:
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("always")
        warnings.showwarning = self._show
        torch.cuda.set_sync_debug_mode("warn")

    def stop(self) -> None:
        if self._catcher is not None:
            torch.cuda.set_sync_debug_mode("default")
            self._catcher.__exit__(None, None, None)
            self._catcher = None

    def take(self) -> list[tuple[str, str]]:
        records, self.records = self.records, []
        return records


#: what a bare training loop does too: the backbone library's own reads (transformers' mask
#: handling), and Lightning's copy of each batch to the device (``move_data_to_device``'s
#: ``batch_to``: non-blocking from pinned memory on CUDA, where the datamodule pins it)
BARE_LOOP = (("", f"{os.sep}transformers{os.sep}"), ("to", " in batch_to"))


def outside(records, allowed=BARE_LOOP) -> collections.Counter:
    """``(kind, where)`` → count of the records that no ``(kind, where-fragment)`` of ``allowed``
    covers (an empty kind covers every kind)."""
    return collections.Counter(
        r for r in records if not any((not kind or r[0] == kind) and part in r[1] for kind, part in allowed)
    )

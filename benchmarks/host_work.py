"""Host work per training step: what a GPU step waits for when the host is the bottleneck.

On a GPU, a small model's step (all-MiniLM-L6-v2 at batch 64) is bound by the host: the device
finishes each kernel before Python has launched the next. The step then costs what the host does
per step, which a CPU can count exactly and the same way on every machine:

- **aten operators** — the top-level operators dispatched (nested ones not counted), forward,
  backward and optimizer; on a GPU almost each is one kernel launch (views such as ``detach``
  launch none);
- **Python calls** — the function calls of the main thread (cProfile), Lightning's loop and
  hooks, lit_srl's code, the model's modules.

:class:`HostWork` counts both over a window of steps; ``bench_train.py --host-work`` reports them
for ``fit`` and the bare loop over the same steps.
"""

from __future__ import annotations

import cProfile
import pstats

import torch
from torch.profiler import ProfilerActivity, profile


def top_level_aten_ops(events) -> int:
    """Events named ``aten::…`` with no ``aten::`` event above them (record_function scopes,
    such as Lightning's, do not count as above)."""
    count = 0
    for event in events:
        if not event.name.startswith("aten::"):
            continue
        parent = event.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        count += parent is None
    return count


class HostWork:
    """``start()`` … ``stop(steps)``: the aten operators and main-thread Python calls per step
    between them (``ops_per_step``, ``calls_per_step``)."""

    def __init__(self) -> None:
        self.ops_per_step = self.calls_per_step = float("nan")
        self._profile = self._calls = None

    def start(self) -> None:
        self._profile = profile(activities=[ProfilerActivity.CPU])
        self._profile.__enter__()
        self._calls = cProfile.Profile()
        self._calls.enable()

    def stop(self, steps: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._calls.disable()
        self._profile.__exit__(None, None, None)
        self.calls_per_step = pstats.Stats(self._calls).total_calls / steps
        self.ops_per_step = top_level_aten_ops(self._profile.events()) / steps

"""Process start: a command's heavy imports without the cyclic garbage collector.

Importing torch, transformers and Lightning creates about 745,000 Python objects (some 290,000 of
them already garbage in reference cycles). CPython's cyclic collector runs after every 700 net
allocations and, every tenth and hundredth time, walks the older generations again: 2.7 s of the
11.9 s that a fresh ``python -m lit_srl fit`` spends on imports on a 2-core CPU
(``benchmarks/bench_imports.py``, BENCHMARKS.md). Every run of a sweep, every SLURM task and every DDP rank pays
it. So ``python -m lit_srl`` imports its command's modules with the collector off, then
``gc.freeze()`` moves every object that exists to the permanent generation, which later
collections skip (the import-time garbage is a few MiB, left to the OS at exit), and turns the
collector back on for the run itself.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def imports_without_gc(active: bool = True) -> Iterator[None]:
    """Pause the cyclic collector for the imports inside; then freeze what exists and resume it.

    ``active=False`` (a library caller of :func:`lit_srl.cli.main`, a test process) leaves the
    collector alone: freezing a long-lived process's objects would keep its garbage forever.
    A collector that was already off stays off and nothing is frozen.
    """
    if not (active and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()

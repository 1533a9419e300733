"""What a fresh ``python -m lit_srl fit`` process spends on imports before it does any work.

    python benchmarks/bench_imports.py [--repeats 3]

Every run of a sweep, every fit a SLURM task starts and every DDP rank is a fresh interpreter, so
this is the floor of the per-run overhead that ``sweep run`` reports (wall time outside fit and
test). Each repeat is a new interpreter that imports, in order, the stages of :data:`STAGES` (what
a ``fit`` process imports) and times each; the table gives each stage's median and minimum over
the repeats, and the wall time of the whole process (interpreter start, the imports, exit). A
stage's time is what it adds to the stages before it: Lightning imports
``torch._dynamo`` (``lightning.fabric.wrappers``) and torchmetrics, which imports ``scipy.signal``,
so those rows are Lightning's cost, listed apart to show where it goes.

The stages run as ``python -m lit_srl`` runs them, with the cyclic garbage collector paused
(:func:`lit_srl.startup.imports_without_gc`); every repeat also starts, in turn, an interpreter
that imports with the collector on (Python's default), whose medians are the last column.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from typing import Optional

#: (label, statement) in import order: the third-party stack of a fit, then lit_srl's own modules
#: and its LightningCLI class
STAGES = (
    ("torch", "import torch"),
    ("transformers (AutoModel)", "from transformers import AutoModel"),
    ("torch._dynamo (imported by Lightning)", "import torch._dynamo"),
    ("scipy.signal (imported by torchmetrics)", "import scipy.signal"),
    ("torchmetrics, the rest", "import torchmetrics"),
    ("lightning.pytorch, the rest", "import lightning.pytorch"),
    ("lit_srl (model, data, callbacks, CLI class)",
     "import lit_srl.model, lit_srl.datamodule; from lit_srl.cli import cli_class; cli_class()"),
)


def measure_stages() -> dict[str, float]:
    """Seconds each stage adds, in this (fresh) interpreter."""
    seconds = {}
    for label, statement in STAGES:
        start = time.perf_counter()
        exec(statement, {})
        seconds[label] = time.perf_counter() - start
    return seconds


def fresh_measurements(repeats: int, collector_on: bool = False) -> tuple[list[dict[str, float]], list[float]]:
    """:func:`measure_stages` in ``repeats`` new interpreters, one after the other, and the wall
    time of each of those processes."""
    runs, walls = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        command = [sys.executable, __file__, "--child", *(["--collector-on"] if collector_on else [])]
        proc = subprocess.run(command, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs, walls


def paired_measurements(repeats: int) -> tuple[list, list, list, list]:
    """Runs and walls as lit_srl imports (collector paused), then with the collector on: the two
    kinds of interpreter in turn, so that a drift of the machine's speed touches both alike."""
    paused, paused_walls, on, on_walls = [], [], [], []
    for _ in range(repeats):
        for collector_on, runs, walls in ((False, paused, paused_walls), (True, on, on_walls)):
            one_run, one_wall = fresh_measurements(1, collector_on)
            runs += one_run
            walls += one_wall
    return paused, paused_walls, on, on_walls


def markdown(runs: list[dict[str, float]], walls: list[float],
             on_runs: Optional[list[dict[str, float]]] = None, on_walls: Optional[list[float]] = None) -> str:
    """The stage table of ``runs``; with ``on_runs``, a last column of their medians (the collector on)."""
    compare = on_runs is not None
    lines = [f"- {len(runs)} fresh interpreters, one after the other; seconds each stage adds to the ones above"
             + ("; the last column: as many with the collector on, in turn with them" if compare else ""),
             "", "| stage | median s | min s |" + (" median s, collector on |" if compare else ""),
             "|---|---:|---:|" + ("---:|" if compare else "")]

    def row(label: str, values: list[float], on_values: Optional[list[float]], bold: bool = False) -> str:
        cells = [f"{statistics.median(values):.2f}", f"{min(values):.2f}"]
        if on_values is not None:
            cells.append(f"{statistics.median(on_values):.2f}")
        if bold:
            label, cells = f"**{label}**", [f"**{cell}**" for cell in cells]
        return f"| {label} | " + " | ".join(cells) + " |"

    for label, _ in STAGES:
        lines.append(row(label, [run[label] for run in runs], [run[label] for run in on_runs] if compare else None))
    lines.append(row("all imports", [sum(run.values()) for run in runs],
                     [sum(run.values()) for run in on_runs] if compare else None, bold=True))
    lines.append(row("the whole process: start, imports, exit", walls, on_walls if compare else None))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--collector-on", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        from lit_srl.startup import imports_without_gc

        with imports_without_gc(active=not args.collector_on):
            seconds = measure_stages()
        print(json.dumps(seconds), flush=True)
        gc.freeze()  # as python -m lit_srl exits: no final collection over torch's objects
        return 0
    print("## Process start: imports of a fit\n")
    print(markdown(*paired_measurements(args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time

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


def fresh_measurements(repeats: int) -> tuple[list[dict[str, float]], list[float]]:
    """:func:`measure_stages` in ``repeats`` new interpreters, one after the other, and the wall
    time of each of those processes."""
    runs, walls = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs, walls


def markdown(runs: list[dict[str, float]], walls: list[float]) -> str:
    lines = [f"- {len(runs)} fresh interpreters, one after the other; seconds each stage adds to the ones above",
             "", "| stage | median s | min s |", "|---|---:|---:|"]
    for label, _ in STAGES:
        values = [run[label] for run in runs]
        lines.append(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} |")
    totals = [sum(run.values()) for run in runs]
    lines.append(f"| **all imports** | **{statistics.median(totals):.2f}** | **{min(totals):.2f}** |")
    lines.append(f"| the whole process: start, imports, exit | {statistics.median(walls):.2f} | {min(walls):.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_stages()), flush=True)
        gc.freeze()  # as python -m lit_srl exits: no final collection over torch's objects
        return 0
    print("## Process start: imports of a fit\n")
    print(markdown(*fresh_measurements(args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The sweep runner's overhead: how much of ``sweep run``'s wall time is spent inside fit and test.

    python benchmarks/bench_sweep.py --data-dir D [--backbone minilm] [--steps 20] [--runs 2] [--quick] [--cold-start]

Runs a real sweep (``python -m lit_srl sweep run``) of ``--runs`` InfoNCE runs (seeds 1…K) of the
quickstart recipe for ``--steps`` steps each, tested on the 7 STS tasks, with the untrained
backbone's baseline, in a temporary folder, and reports:

- per run: the wall time of its fit process from the moment the runner handed it the run
  (``attempts.jsonl``) against the seconds spent in ``trainer.fit`` and ``trainer.test``
  (``result.json``): the rest is process start, imports and model/data set-up. The first run (after
  the baseline's ``eval``) is handed to a warm standby that imported while the baseline ran, and so
  is each run after it; ``--cold-start`` starts every process only when its run starts;
- for the whole command: its wall time against the sum of fit + test (and of the baseline's
  evaluation), i.e. the share of the sweep's time that goes to training and scoring.

``--quick`` shrinks to 2 steps and STS-B only (a smoke test; not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cold-start", action="store_true", help="sweep run --cold-start: no warm standby")
    args = parser.parse_args(argv)
    steps = 2 if args.quick else args.steps
    settings = {"model.backbone": args.backbone, "trainer.max_steps": steps, "trainer.val_check_interval": steps,
                "trainer.enable_progress_bar": False}
    if args.quick:
        settings["data.test_tasks"] = ["STSBenchmark"]
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        sweep = Path(tmp) / "bench.yaml"
        sweep.write_text(yaml.safe_dump({
            "configs": ["configs/quickstart.yaml", "configs/loss/infonce.yaml"], "set": settings,
            "grid": {"seed_everything": list(range(1, args.runs + 1))}}, sort_keys=False))
        out = Path(tmp) / "out"
        env = dict(os.environ, LIT_SRL_DATA=str(Path(args.data_dir).resolve()), TOKENIZERS_PARALLELISM="false")
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lit_srl", "sweep", "run", str(sweep), "--output-dir", str(out),
                               *(["--cold-start"] if args.cold_start else [])],
                              cwd=REPO, env=env, capture_output=True, text=True)
        total = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        rows, inside = [], 0.0
        for folder in sorted((out / "runs").iterdir()):
            result = json.loads((folder / "result.json").read_text())
            (attempt,) = [json.loads(line) for line in (folder / "attempts.jsonl").read_text().splitlines()]
            fit, test = result["train"]["fit_seconds"], result["train"]["test_seconds"]
            inside += fit + test
            start = ("warm" if attempt.get("warm_start") else
                     "standby still importing" if attempt.get("standby") else "cold")
            rows.append((folder.name, start, attempt["wall_seconds"], fit, test))
        (baseline,) = [json.loads(line) for line in next((out / "baselines").glob("*/attempts.jsonl")).read_text().splitlines()]
    tasks = "STS-B test" if args.quick else "7-task test"
    print(f"## Sweep runner overhead ({args.runs} runs of {steps} steps, {args.backbone}, InfoNCE, {tasks})\n")
    print(f"- command: `python -m lit_srl sweep run{' --cold-start' if args.cold_start else ''}` of {args.runs} "
          f"quickstart runs (seeds 1–{args.runs}), "
          f"max_steps {steps}, STS-B dev at the last step, then the test of the best-dev checkpoint; plus the "
          "untrained backbone's `eval` (the baseline)")
    print("\n| run | start | process wall s | fit s | test s | outside fit+test s | fit+test share |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, start, wall, fit, test in rows:
        print(f"| {name} | {start} | {wall:.1f} | {fit:.1f} | {test:.1f} | {wall - fit - test:.1f} | "
              f"{100 * (fit + test) / wall:.1f}% |")
    print(f"| baseline eval | {'warm' if baseline.get('warm_start') else 'cold'} | {baseline['wall_seconds']:.1f} "
          "| – | – | – | – |")
    share = 100 * (inside + baseline["wall_seconds"]) / total
    print(f"\n- whole `sweep run`: {total:.1f} s wall; fit + test of the runs + the baseline's eval process: "
          f"{inside + baseline['wall_seconds']:.1f} s = **{share:.1f}%** (goal on CPU: ≥ 95%)")
    print("- outside fit+test per run: Python start, imports (torch, Lightning, transformers), building the model, "
          "the data module and the trainer; for the whole command also resolving the plan (the CLI's parser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m lit_srl sweep plan|run|slurm|report``: experiments as sweeps of ordinary fits.

    python -m lit_srl sweep plan   SWEEP.yaml --output-dir DIR          # the runs and their fit commands
    python -m lit_srl sweep run    SWEEP.yaml --output-dir DIR [--jobs K [--runs-per-gpu N]] [--only NAMES] [--keep-last]
    python -m lit_srl sweep slurm  SWEEP.yaml --output-dir DIR [--partition P --time 12:00:00 …]
    python -m lit_srl sweep report DIR [--output RESULTS.md]

The sweep file format: :mod:`lit_srl.sweep.spec`; the output folder: :mod:`lit_srl.sweep.plan`;
the runner: :mod:`lit_srl.sweep.runner`; the job array: :mod:`lit_srl.sweep.slurm`; the tables
and figures: :mod:`lit_srl.sweep.report`.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

from lit_srl.errors import LitSrlError

log = logging.getLogger("lit_srl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lit_srl sweep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)

    def sweep_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("sweep", help="the sweep file (configs/sweeps/*.yaml)")
        p.add_argument("--output-dir", required=True, help="the sweep's folder (runs/, plan.json, baselines/)")

    sweep_args(sub.add_parser("plan", help="list the runs with the exact fit command of each"))
    run = sub.add_parser("run", help="run the sweep here, K runs at a time")
    sweep_args(run)
    run.add_argument("--jobs", type=int, default=1, help="runs at a time (each on its own GPUs; default 1)")
    run.add_argument("--runs-per-gpu", type=int, default=1,
                     help="runs that may share one GPU (default 1: --jobs needs jobs × devices GPUs)")
    run.add_argument("--only", default=None,
                     help="comma-separated run names or shell patterns ('*_seed1', 'baseline'); default all")
    run.add_argument("--keep-last", action="store_true", help="keep last.ckpt (optimizer state) of finished runs")
    run.add_argument("--no-baseline", action="store_true", help="do not score the untrained backbone")
    slurm = sub.add_parser("slurm", help="write an sbatch job-array script, one array task per run")
    sweep_args(slurm)
    slurm.add_argument("--keep-last", action="store_true", help="keep last.ckpt of finished runs")
    slurm.add_argument("--no-baseline", action="store_true", help="no array task for the untrained backbone")
    report = sub.add_parser("report", help="tables and figures of one or more sweep folders")
    report.add_argument("output_dir", help="a sweep's --output-dir, or a folder holding several")
    report.add_argument("--output", default=None, help="write the markdown here (default: print it)")
    return parser


def _planned(args: argparse.Namespace):
    from lit_srl.sweep.plan import make_plan, write_plan
    from lit_srl.sweep.spec import load_sweep

    sweep = load_sweep(args.sweep)
    planned = make_plan(sweep, Path(args.output_dir))
    write_plan(sweep, planned, Path(args.output_dir))
    return sweep, planned


def select(planned, only: Optional[str]) -> Optional[list[str]]:
    """The names ``--only`` picks (names, shell patterns or array indices); None = all."""
    from lit_srl.sweep.plan import BASELINE

    if only is None:
        return None
    names = [p.name for p in planned] + [BASELINE]
    chosen: list[str] = []
    for item in (x.strip() for x in only.split(",") if x.strip()):
        matches = [n for n in names if fnmatch.fnmatchcase(n, item)]
        if not matches:
            raise LitSrlError(f"--only {item!r} matches no run; runs: {', '.join(names)}")
        chosen += matches
    return list(dict.fromkeys(chosen))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, extra = build_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extra and args.action != "slurm":
        raise LitSrlError(f"unknown option {extra[0]!r} for sweep {args.action}; see python -m lit_srl sweep {args.action} --help")
    if args.action == "report":
        from lit_srl.sweep.report import write_report

        text = write_report(Path(args.output_dir), Path(args.output) if args.output else None)
        if not args.output:
            print(text)
        return 0
    sweep, planned = _planned(args)
    if args.action == "plan":
        from lit_srl.sweep.plan import format_plan

        print(format_plan(planned, Path(args.output_dir)))
        return 0
    if args.action == "slurm":
        from lit_srl.sweep.slurm import array_script, write_script

        options = []
        for i, item in enumerate(extra):  # --partition gpu or --partition=gpu
            if item.startswith("--") and "=" not in item and i + 1 < len(extra) and not extra[i + 1].startswith("--"):
                options.append(f"{item}={extra[i + 1]}")
            elif item.startswith("-"):
                options.append(item)
        script = write_script(
            array_script(planned, Path(args.output_dir), sweep.name, options, args.keep_last, not args.no_baseline),
            Path(args.output_dir),
        )
        print(f"wrote {script} ({len(planned)} runs{'' if args.no_baseline else ' + baseline'}); submit it with:")
        print(f"  sbatch {shlex.quote(str(script))}")
        print(f"then: python -m lit_srl sweep report {shlex.quote(args.output_dir)} --output RESULTS.md")
        return 0
    from lit_srl.sweep.runner import SweepRunner

    runner = SweepRunner(planned, Path(args.output_dir), jobs=args.jobs, keep_last=args.keep_last,
                         runs_per_gpu=args.runs_per_gpu)
    return runner.run(select(planned, args.only), baseline=not args.no_baseline)

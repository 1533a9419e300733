"""``python -m lit_srl sweep plan|run|slurm|report``: experiments as sweeps of ordinary fits.

    python -m lit_srl sweep plan   SWEEP.yaml --output-dir DIR          # the runs and their fit commands
    python -m lit_srl sweep run    SWEEP.yaml --output-dir DIR [--jobs K [--runs-per-gpu N]] [--only NAMES] [--keep-last] [--cold-start]
    python -m lit_srl sweep slurm  SWEEP.yaml --output-dir DIR [--only NAMES] [--max-parallel K] [--runs-per-gpu N] [--partition P --time 12:00:00 …]
    python -m lit_srl sweep task   DIR NAME                             # one array task: a run of the frozen plan
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
from lit_srl.sweep.slurm import SHARING_GRES, pass_through_help
from lit_srl.sweep.spec import BASELINE, MAX_RUNS

log = logging.getLogger("lit_srl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lit_srl sweep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)

    def sweep_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("sweep", help="the sweep file (configs/sweeps/*.yaml)")
        p.add_argument("--output-dir", required=True, help="the sweep's folder (runs/, plan.json, baselines/)")
        p.add_argument("--max-runs", type=int, default=MAX_RUNS,
                       help=f"refuse a sweep of more runs than this (default {MAX_RUNS:,}), counted before any is built")

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
    run.add_argument("--cold-start", action="store_true",
                     help="start each run's process only when its run starts (default: the slot's next process "
                          "imports torch, transformers and Lightning while the current run trains)")
    slurm = sub.add_parser("slurm", help="write an sbatch job-array script, one array task per run",
                           allow_abbrev=False, epilog=pass_through_help())
    sweep_args(slurm)
    slurm.add_argument("--keep-last", action="store_true", help="keep last.ckpt of finished runs")
    slurm.add_argument("--no-baseline", action="store_true", help="no array task for the untrained backbone")
    slurm.add_argument("--only", default=None,
                       help="array tasks for these runs only: comma-separated names or shell patterns, as sweep run")
    slurm.add_argument("--max-parallel", type=int, default=None, metavar="K",
                       help="at most K array tasks at once (--array=0-N%%K)")
    slurm.add_argument("--runs-per-gpu", type=int, default=None, metavar="N",
                       help="N runs share one GPU, through the cluster's GPU sharing GRES (--gres=shard:K, "
                            "K = the GPU's shards / N, read from sinfo); runs of one device each")
    slurm.add_argument("--gpu-sharing", choices=SHARING_GRES, default="shard",
                       help="the GRES that shares a GPU for --runs-per-gpu: shard (default) or mps")
    task = sub.add_parser("task", help="run one run of the plan sweep slurm froze (what each array task runs)")
    task.add_argument("output_dir", help="the sweep's folder, holding plan.json")
    task.add_argument("name", help=f"the run's name, or {BASELINE!r} for the untrained backbones")
    task.add_argument("--keep-last", action="store_true", help="keep last.ckpt of a finished run")
    report = sub.add_parser("report", help="tables and figures of one or more sweep folders")
    report.add_argument("output_dir", help="a sweep's --output-dir, or a folder holding several")
    report.add_argument("--output", default=None, help="write the markdown here (default: print it)")
    return parser


def _planned(args: argparse.Namespace):
    from lit_srl.sweep.plan import make_plan, write_plan
    from lit_srl.sweep.spec import load_sweep

    if args.max_runs < 1:
        raise LitSrlError(f"--max-runs must be at least 1, got {args.max_runs}")
    sweep = load_sweep(args.sweep, max_runs=args.max_runs)
    planned = make_plan(sweep, Path(args.output_dir))
    write_plan(sweep, planned, Path(args.output_dir))
    return sweep, planned


def select(planned, only: Optional[str]) -> Optional[list[str]]:
    """The names ``--only`` picks (names or shell patterns); None = all."""
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


def write_slurm(args: argparse.Namespace, extra: list[str]) -> int:
    """``sweep slurm``: check the sbatch options, plan (frozen for the tasks), write the script."""
    from lit_srl.sweep.slurm import array_script, cluster_gres, sbatch_options, sharing_gres, write_script

    options = sbatch_options(extra)  # before anything is written
    for option, value in (("--runs-per-gpu", args.runs_per_gpu), ("--max-parallel", args.max_parallel)):
        if value is not None and value < 1:
            raise LitSrlError(f"{option} must be at least 1, got {value}")
    if args.runs_per_gpu and args.runs_per_gpu > 1 and "gres" in options:
        raise LitSrlError("give either --runs-per-gpu (the script asks for the GPU share) or --gres, not both")
    args.output_dir = str(Path(args.output_dir).resolve())  # the tasks run the plan's commands from anywhere
    sweep, planned = _planned(args)
    chosen = select(planned, args.only)
    names = [p.name for p in planned if chosen is None or p.name in chosen]
    if not args.no_baseline and (chosen is None or BASELINE in chosen):
        names.append(BASELINE)
    if not names:
        raise LitSrlError(f"--only {args.only!r} with --no-baseline leaves no array task")
    gpu_gres = None
    if args.runs_per_gpu:
        shapes = {(p.devices(), p.num_nodes()) for p in planned}
        if shapes != {(1, 1)}:
            raise LitSrlError(f"--runs-per-gpu shares a GPU between runs of one device each; the runs use "
                              f"(devices, num_nodes) {sorted(shapes)}")
        gpu_gres = "gpu:1" if args.runs_per_gpu == 1 else sharing_gres(
            cluster_gres(options.get("partition")), args.runs_per_gpu, args.gpu_sharing)
    script = write_script(
        array_script(planned, Path(args.output_dir), sweep.name, options, names, args.keep_last,
                     args.max_parallel, gpu_gres),
        Path(args.output_dir),
    )
    runs = len([n for n in names if n != BASELINE])
    print(f"wrote {script} ({runs} runs{' + baseline' if BASELINE in names else ''}); submit it with:")
    print(f"  sbatch {shlex.quote(str(script))}")
    print(f"then: python -m lit_srl sweep report {shlex.quote(args.output_dir)} --output RESULTS.md")
    return 0


def run_task(args: argparse.Namespace) -> int:
    """``sweep task DIR NAME``: one run (or the baselines) of the frozen plan, as an array task."""
    from lit_srl.sweep.plan import frozen_runs
    from lit_srl.sweep.runner import SweepRunner

    planned = frozen_runs(Path(args.output_dir), args.name)
    runner = SweepRunner(planned, Path(args.output_dir), keep_last=args.keep_last)
    if args.name == BASELINE:
        return runner.run([BASELINE], baseline=True)
    return runner.run([args.name], baseline=False)


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
    if args.action == "slurm":
        return write_slurm(args, extra)
    if args.action == "task":
        return run_task(args)
    sweep, planned = _planned(args)
    if args.action == "plan":
        from lit_srl.sweep.plan import format_plan

        print(format_plan(planned, Path(args.output_dir)))
        return 0
    from lit_srl.sweep.runner import SweepRunner

    runner = SweepRunner(planned, Path(args.output_dir), jobs=args.jobs, keep_last=args.keep_last,
                         runs_per_gpu=args.runs_per_gpu, warm_start=not args.cold_start)
    return runner.run(select(planned, args.only), baseline=not args.no_baseline)

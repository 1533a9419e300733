"""Run the benchmarks and collect them into one markdown report (``make bench``).

    python benchmarks/run_all.py --output BENCHMARKS.md [--quick] [--only train,eval,encode,transfer,losses,data,imports,sweep]
        [--backbone minilm|bert-base|FOLDER] [--data-dir D] [--threads N]

Sections, each run as its own script in a fresh process (its markdown is its standard output):

- ``train``  — bench_train.py: lit_srl fit vs a bare PyTorch loop vs sentence-transformers (MNRL), and the
  host work per step of fit and the bare loop (aten operators, Python calls: host_work.py)
- ``eval``   — bench_eval.py: lit_srl's STSEvaluator vs sentence-transformers' evaluator, 7 tasks
- ``encode`` — bench_encode.py: the one encode path vs sentence-transformers' encode (same sentences,
  same batch size) and in-training STS-B dev validation vs the ``eval`` command
- ``transfer`` — bench_transfer.py: SentEval transfer evaluation (synthetic stand-ins of the real
  tasks' sizes) against the 7-task STS evaluation, MiniLM
- ``losses`` — bench_losses.py: forward+backward cost of every loss vs cross-entropy InfoNCE
- ``data``   — bench_data.py: StreamingCorpus tokenising throughput and peak RSS, 10k vs 1M lines
- ``imports`` — bench_imports.py: what a fresh fit process imports before it works (torch,
  transformers, Lightning and what they pull in, lit_srl): the floor of the runner's overhead per run
- ``sweep``  — bench_sweep.py: the sweep runner's overhead (wall time outside fit and test)

``--quick`` shrinks train, losses and data to smoke-test sizes (bench_eval has no size options and
runs as it is). On a CUDA machine train runs in bf16 on the GPU and eval and losses get ``--device cuda``. The report starts with the date, the exact command, the machine and the library
versions; it is rewritten after every section, so an interrupted run keeps what finished. A section
that fails is reported with the tail of its error output and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, header_lines  # noqa: E402

HERE = Path(__file__).resolve().parent
SECTIONS = ("train", "eval", "encode", "transfer", "losses", "data", "imports", "sweep")
TITLES = {
    "train": "Training throughput",
    "eval": "STS evaluation speed",
    "encode": "Encode path",
    "transfer": "Transfer evaluation speed",
    "losses": "Loss cost (forward + backward, random embeddings)",
    "data": "Streaming data",
    "imports": "Process start: imports of a fit",
    "sweep": "Sweep runner overhead",
}
QUICK = {
    "train": ["--steps", "2", "--warmup", "1", "--repeats", "1", "--batch-size", "8", "--max-length", "16"],
    "eval": [],
    "encode": ["--sentences", "256", "--repeats", "1"],
    "transfer": ["--scale", "0.02", "--mode", "fast", "--tasks", "MR,TREC"],
    "losses": ["--sizes", "64", "--dim", "64", "--repeats", "2"],
    "data": ["--sizes", "1000", "4000", "--workers", "0", "1", "--batch-size", "32"],
    "imports": ["--repeats", "1"],
    "sweep": ["--quick"],
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="BENCHMARKS.md", help="the markdown report to write")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test, not a measurement)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--backbone", default="minilm", help="train and data: minilm, bert-base or a folder")
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"), help="the data root")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for train and losses (default: torch's)")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown or not args.only:
        parser.error(f"--only: unknown or empty sections {unknown}; valid: {', '.join(SECTIONS)}")
    return args


def section_command(name: str, args) -> list[str]:
    """The script and options of one section."""
    cmd = [sys.executable, str(HERE / f"bench_{name}.py")]
    if name in ("train", "data") or (name == "sweep" and args.backbone != "bert-base"):  # fit knows no bert-base alias
        cmd += ["--backbone", args.backbone]
    if name == "train":
        cmd += ["--host-work"]  # operators and Python calls per step beside the times
    if name in ("train", "eval", "encode", "transfer", "data", "sweep"):
        cmd += ["--data-dir", str(args.data_dir)]
    if name in ("train", "losses") and args.threads:
        cmd += ["--threads", str(args.threads)]
    if name in ("eval", "encode", "losses") and args.cuda:  # bench_train picks the GPU by itself
        cmd += ["--device", "cuda"]
    if args.quick:
        cmd += QUICK[name]
    return cmd


def run_section(name: str, args) -> tuple[bool, str]:
    """(succeeded, markdown) of one section."""
    cmd = section_command(name, args)
    shown = shlex.join(["python", str(Path(cmd[1]).relative_to(REPO)), *cmd[2:]])
    print(f"[{name}] {shown}", file=sys.stderr, flush=True)
    env = dict(os.environ, LIT_SRL_DATA=str(args.data_dir), TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    body = proc.stdout.strip()
    if not body.startswith("#"):
        body = f"## {TITLES[name]}\n\n{body}"
    note = f"_`{shown}` — {seconds:.0f} s_"
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        body = f"## {TITLES[name]}\n\n**failed** (exit status {proc.returncode}):\n\n```\n{tail}\n```"
        return False, f"{body}\n\n{note}\n"
    return True, f"{body}\n\n{note}\n"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    import torch

    args.cuda = torch.cuda.is_available()
    command = shlex.join(["python", "benchmarks/run_all.py", *argv])
    head = ["# Benchmarks", "", *header_lines(command)]
    if args.quick:
        head.append("- **--quick**: smoke-test sizes; these numbers are not measurements")
    head.append("")
    output = Path(args.output)
    parts, ok = [], True
    for name in SECTIONS:
        if name not in args.only:
            continue
        succeeded, text = run_section(name, args)
        ok &= succeeded
        parts.append(text)
        output.write_text("\n".join(head + parts))
    print(f"wrote {output}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""One command checks a GPU machine (``make gpu-check``, issue 17 item 8).

    python scripts/gpu_check.py [--out-dir gpu_check] [--update BENCHMARKS.md] [--only tests,train_minilm,...]
    python scripts/gpu_check.py --smoke        # no GPU: tiny random BERT on the CPU, every step in seconds

On one GPU, within 8 minutes (``--budget``), each step in a process of its own with its own timeout and
log file (``OUT/logs/<step>.log``), in this order:

- ``train_minilm``, ``train_bert_base``: ``benchmarks/bench_train.py`` (MiniLM batch 64, BERT-base
  size batch 128; bf16-mixed, the recipes' monitors on) — ``fit`` against the bare eager loop, and
  on BERT-base size the compiled step (``model.compile: true``) against it too, with the model
  FLOP utilisation of both against the card's dense bf16 peak;
- ``encode``: ``benchmarks/bench_encode.py --device cuda`` — ours against sentence-transformers;
- ``eval_32``, ``eval_bf16``: ``eval`` of MiniLM on the seven STS tasks in float32 and under bf16
  autocast — the whole process's time and how far bf16 moves the scores;
- ``paper_fit``: the paper recipe (configs/paper_bert_base.yaml: linear head, frozen embeddings,
  clipping, bf16-mixed) on MiniLM, a few hundred steps of wiki1m_head;
- ``imports``: ``benchmarks/bench_imports.py`` — what a fresh fit process spends importing torch,
  transformers, Lightning and lit_srl: the floor of the runner's overhead per run;
- ``sweep``: a packed sweep, ``sweep run --jobs 2 --runs-per-gpu 2`` (four short MiniLM runs on one
  GPU), and its runner overhead per run: of the runs handed to a warm standby (goal ≤ 5 s) and of
  each slot's first, started cold; and the end of the slowest run's fit (goal ≤ 1 s);
- ``tests``: the suite with the GPU visible (``-m "not slurm and not ddp"``, pytest-xdist if
  installed), the ``gpu``-marked tests included, in what is left of the budget
  (at most 4 minutes).

Then it prints one table — each figure, its goal, met or not — and writes it as markdown
(``OUT/gpu_check.md``; with ``--update FILE`` also between the ``gpu-check`` markers of FILE, the
GPU section of BENCHMARKS.md). Exit status 1 if a step failed or timed out or a figure could not be
read from its output (a goal not met is a finding, not a failure).

``--smoke`` runs the same steps at toy sizes on the CPU (a tiny random BERT, two optimizer steps,
SICK-R dev), but not the test suite (``make test`` runs it) nor the second bench_train: it checks
that the script and every command it runs still work (.ci/run runs it after ``make test``; about
a minute on 2 idle cores); its figures are not measurements.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

MISSING = "not found"
START_MARKER = "<!-- gpu-check:start -->"
END_MARKER = "<!-- gpu-check:end -->"
#: steps the smoke mode leaves out (nothing of theirs that the other steps do not run)
SMOKE_SKIPS = ("tests", "train_bert_base")
STEPS = ("train_minilm", "train_bert_base", "encode", "eval_32", "eval_bf16", "paper_fit", "imports", "sweep", "tests")


@dataclasses.dataclass
class Figure:
    """One row of the summary: what was measured, its value, the goal and whether it was met."""

    step: str
    what: str
    value: str
    goal: str = "—"
    met: Optional[bool] = None

    @property
    def missing(self) -> bool:
        """The figure could not be read (the output it comes from changed, or never came)."""
        return self.value.startswith(MISSING)


@dataclasses.dataclass
class Step:
    """A command with its timeout; ``figures`` reads the figures from its log and the work folder."""

    name: str
    command: list[str]
    timeout: int
    figures: Callable[["Step", str], list[Figure]]
    status: str = "not run"
    seconds: float = 0.0
    log: Optional[Path] = None


# ------------------------------------------------------------------------------------- parsing
def _number(pattern: str, text: str) -> Optional[float]:
    found = re.findall(pattern, text)
    return float(found[-1].replace(",", "")) if found else None


def _ratio(step: str, what: str, value: Optional[float], goal: float, goal_text: str) -> Figure:
    if value is None:
        return Figure(step, what, "not found in the log", goal_text, False)
    return Figure(step, what, f"{value:.3f}", goal_text, value >= goal)


def pytest_figures(junit: Path) -> Callable[[Step, str], list[Figure]]:
    def read(step: Step, log: str) -> list[Figure]:
        if not junit.is_file():  # stopped by its timeout: what -v printed so far
            outcomes = re.findall(r"(PASSED|FAILED|ERROR|SKIPPED) (tests/\S+)|(tests/\S+) (PASSED|FAILED|ERROR|SKIPPED)", log)
            seen = [(a or d, b or c) for a, b, c, d in outcomes]
            failed = sorted({name for result, name in seen if result in ("FAILED", "ERROR")})
            return [Figure(step.name, "tests run before the timeout: passed / failed", f"{sum(r == 'PASSED' for r, _ in seen)} / "
                           f"{len(failed)}", "0 failed", not failed)] + [
                Figure(step.name, "failed", name, "—", False) for name in failed[:30]]
        cases = list(ET.parse(junit).getroot().iter("testcase"))

        def outcome(case) -> str:
            for tag in ("failure", "error", "skipped"):
                if case.find(tag) is not None:
                    return tag
            return "passed"

        def count(cases) -> dict:
            out = {"passed": 0, "failure": 0, "error": 0, "skipped": 0}
            for case in cases:
                out[outcome(case)] += 1
            return out

        every, gpu = count(cases), count([c for c in cases if "test_gpu" in c.get("classname", "")])
        failed = [f"{c.get('classname')}::{c.get('name')}" for c in cases if outcome(c) in ("failure", "error")]
        figures = [
            Figure(step.name, "tests with the GPU visible: passed / failed / skipped",
                   f"{every['passed']} / {every['failure'] + every['error']} / {every['skipped']}", "0 failed",
                   every["failure"] + every["error"] == 0),
            Figure(step.name, "gpu-marked tests: passed / failed / skipped",
                   f"{gpu['passed']} / {gpu['failure'] + gpu['error']} / {gpu['skipped']}", "all pass on a GPU",
                   gpu["failure"] + gpu["error"] == 0),
        ]
        figures += [Figure(step.name, "failed", name, "—", False) for name in failed[:30]]
        return figures

    return read


def mfu_of(log: str, label: str) -> str:
    """The MFU column of bench_train's row ``label`` (``–`` on a CPU or an unknown card)."""
    rows = [line for line in log.splitlines() if line.startswith(f"| {label} |")]
    return rows[-1].rstrip(" |").rsplit("|", 1)[-1].strip() if rows else MISSING


def train_figures(with_st: bool, with_compiled: bool = False) -> Callable[[Step, str], list[Figure]]:
    def read(step: Step, log: str) -> list[Figure]:
        ms = re.findall(r"\| (bare PyTorch loop|lit_srl fit|sentence-transformers MNRL)([^|]*)\|(?:[^|]*\|)*?\s*\*\*[\d.]+\*\* \| (\d+) \|", log)
        short = {"bare PyTorch loop": "bare", "lit_srl fit": "fit", "sentence-transformers MNRL": "ST"}
        steps = ", ".join(f"{'compiled' if 'compile' in rest else short[name]} {v} ms" for name, rest, v in ms)
        figures = [
            Figure(step.name, "ms/step (best run)", steps or "not found", "—", None),
            _ratio(step.name, "fit / bare eager loop (sentences/s)",
                   _number(r"lit_srl / bare loop \(wall, best runs\): \*\*([\d.]+)\*\*", log), 0.95, "≥ 0.95"),
        ]
        if with_compiled:
            figures += [
                _ratio(step.name, "compiled fit (model.compile) / bare eager loop",
                       _number(r"lit_srl compiled / bare loop \(wall, best runs\): \*\*([\d.]+)\*\*", log), 1.5, "≥ 1.5"),
                Figure(step.name, "MFU (dense bf16 peak): fit / compiled fit",
                       f"{mfu_of(log, 'lit_srl fit (Lightning Trainer)')} / {mfu_of(log, 'lit_srl fit, model.compile')}"),
            ]
        if with_st:
            figures.append(_ratio(step.name, "fit / sentence-transformers",
                                  _number(r"lit_srl / sentence-transformers \(wall, best runs\): \*\*([\d.]+)\*\*", log),
                                  1.0, "> 1"))
        return figures

    return read


def encode_figures(step: Step, log: str) -> list[Figure]:
    rates = re.findall(r"\| (lit_srl `encode_sentences`|sentence-transformers `encode`) \| [^|]+\| [\d.]+ \| (\d+) \|", log)
    validation = _number(r"validation / eval: \*\*([\d.]+)x\*\*", log)
    return [
        Figure(step.name, "sentences/s: ours, sentence-transformers", ", ".join(v for _, v in rates) or "not found"),
        _ratio(step.name, "encode: ours / sentence-transformers", _number(r"ours / theirs: \*\*([\d.]+)x\*\*", log),
               1.0, "≥ 1"),
        Figure(step.name, "in-training validation / eval (time)",
               "not found" if validation is None else f"{validation:.2f}", "≈ 1"),
    ]


def eval_figures(results: Path, other: Optional[Path] = None) -> Callable[[Step, str], list[Figure]]:
    """The eval process's wall time; with ``other`` (the float32 results), how far these scores
    moved from them (Spearman ×100 of each task and the average)."""

    def read(step: Step, log: str) -> list[Figure]:
        figures = [Figure(step.name, "eval, whole process (s)", f"{step.seconds:.1f}", "—")]
        if not results.is_file():
            return figures + [Figure(step.name, "scores", "not found: no results file", "—", False)]
        mine = json.loads(results.read_text())
        figures.append(Figure(step.name, "STS avg ×100", f"{100 * mine['avg']:.2f}"))
        if other is not None and other.is_file():
            base = json.loads(other.read_text())
            tasks = [t for t in mine if isinstance(mine[t], dict) and "spearman" in mine[t]]
            deltas = [100 * (mine[t]["spearman"] - base[t]["spearman"]) for t in tasks]
            worst = max(deltas, key=abs)
            figures.append(Figure(step.name, f"bf16 − fp32, Spearman ×100 ({len(tasks)} tasks): the largest Δ, Δavg",
                                  f"{worst:+.3f}, {100 * (mine['avg'] - base['avg']):+.3f}", "report (within ±0.1: small)",
                                  abs(worst) <= 0.1))
        return figures

    return read


def fit_figures(root: Path) -> Callable[[Step, str], list[Figure]]:
    def read(step: Step, log: str) -> list[Figure]:
        from lit_srl import metric_names as names
        from lit_srl.analysis.figures import read_logs

        scalars, _ = read_logs(root)
        empty = ((), ())
        rate = scalars.get(names.SENTENCES_PER_SECOND, empty)[1]
        dev = scalars.get("val/stsb_spearman", empty)[1]
        return [
            Figure(step.name, "fit, whole process (s)", f"{step.seconds:.1f}"),
            Figure(step.name, "sentences/s (last logged)", f"{rate[-1]:.0f}" if len(rate) else "not found (not logged)"),
            Figure(step.name, "STS-B dev Spearman ×100 (last)", f"{100 * dev[-1]:.2f}" if len(dev) else "not found (not logged)",
                   "finite", bool(len(dev)) and bool(abs(dev[-1]) <= 1)),
        ]

    return read


def imports_figures(step: Step, log: str) -> list[Figure]:
    """The imports of a fresh fit process (bench_imports.py): the floor of the runner's overhead
    per run, and lit_srl's own share of it."""
    total = _number(r"\| \*\*all imports\*\* \| \*\*([\d.]+)\*\*", log)
    own = _number(r"\| lit_srl \([^|]*\) \| ([\d.]+) \|", log)
    return [Figure(step.name, "imports of a fit process (s, median): all, lit_srl's own",
                   MISSING if total is None or own is None else f"{total:.1f}, {own:.2f}")]


def sweep_figures(folder: Path) -> Callable[[Step, str], list[Figure]]:
    """Runs finished, and the runner's overhead per run (``sweep report``'s: wall time from the
    hand-over outside fit and test), apart for the warm starts (handed to a standby that had
    finished importing: every run after a slot's first) and the others."""
    from lit_srl.sweep.report import SweepResults, mean_outside, run_times

    def read(step: Step, log: str) -> list[Figure]:
        sweep = SweepResults(folder)
        times = run_times(sweep)
        (warm, n_warm), (cold, n_cold) = mean_outside(times, True), mean_outside(times, False)
        done, planned = len(sweep.results), len(sweep.runs)
        devices = sorted({str(record.get("device", "?")) for record in sweep.results.values()})
        ends = [e for record in sweep.results.values() if (e := (record.get("train") or {}).get("end_of_fit_seconds")) is not None]
        return [
            Figure(step.name, "runs finished", f"{done} / {planned}", "all", planned > 0 and done == planned),
            Figure(step.name, "runner overhead per run (s, outside fit and test), warm start",
                   f"{warm:.1f} (n = {n_warm})" if warm is not None else MISSING, "≤ 5", warm is not None and warm <= 5),
            Figure(step.name, "the same, not warm (a slot's first run, or one handed to a standby still importing)",
                   f"{cold:.1f} (n = {n_cold})" if cold is not None else "—"),
            Figure(step.name, "end of fit (s, training ended → fit returned: loader workers, loggers), the slowest run",
                   f"{max(ends):.2f} (n = {len(ends)})" if ends else MISSING, "≤ 1", bool(ends) and max(ends) <= 1),
            Figure(step.name, "devices of the runs", ", ".join(devices) or "—"),
        ]

    return read


# ------------------------------------------------------------------------------------- the plan
def python() -> list[str]:
    return [sys.executable]


def plan(args, work: Path) -> list[Step]:
    """The steps in the order they run: GPU sizes, or (``--smoke``) toy sizes on the CPU. The test
    suite runs last, in what is left of the budget."""
    smoke, data = args.smoke, str(args.data_dir)
    backbone = str(args.tiny) if smoke else "minilm"
    bench_train = [*python(), str(REPO / "benchmarks" / "bench_train.py"), "--data-dir", data]
    steps = [
        Step("train_minilm", [*bench_train, "--backbone", backbone, *(
            ["--batch-size", "8", "--max-length", "16", "--steps", "2", "--warmup", "1", "--repeats", "1",
             "--threads", "1", "--trainers", "lit_srl,bare,compiled", "--compile", "aot_eager"] if smoke else
            ["--batch-size", "64", "--steps", "150", "--warmup", "10", "--repeats", "2"])],
            150, train_figures(with_st=not smoke, with_compiled=smoke)),
        Step("train_bert_base", [*bench_train, "--backbone", "bert-base", "--trainers", "lit_srl,bare,compiled",
                                 "--batch-size", "128", "--steps", "100", "--warmup", "10", "--repeats", "1"],
             150, train_figures(with_st=False, with_compiled=True)),
        Step("encode", [*python(), str(REPO / "benchmarks" / "bench_encode.py"), "--backbone", backbone, "--data-dir", data,
                        *(["--device", "cpu", "--sentences", "64", "--repeats", "1"] if smoke else
                          ["--device", "cuda", "--sentences", "8000", "--repeats", "2"])],
             90, encode_figures),
    ]
    results = {precision: work / f"eval_{precision}.json" for precision in ("32", "bf16")}
    for precision, path in results.items():
        steps.append(Step(
            f"eval_{precision}",
            [*python(), "-m", "lit_srl", "eval", "--model", backbone, "--pooler", "avg", "--data-dir", data,
             "--precision", precision, "--output", str(path), "--overwrite",
             *(["--tasks", "SICKRelatedness", "--split", "dev", "--device", "cpu", "--max-length", "16"] if smoke else [])],
            60, eval_figures(path, results["32"] if precision == "bf16" else None),
        ))
    fit_root = work / "paper_fit"
    steps.append(Step(
        "paper_fit",
        [*python(), "-m", "lit_srl", "fit", "--config", str(REPO / "configs" / "paper_bert_base.yaml"),
         f"--model.backbone={backbone}", f"--data.data_dir={data}", "--data.train_files=corpus/wiki1m_head.txt",
         f"--trainer.default_root_dir={fit_root}", "--trainer.enable_progress_bar=false",
         *(["--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.log_every_n_steps=1",
            "--data.batch_size=8", "--data.num_workers=0"] if smoke else
           # the recipe trains in float32 (the released code); the check measures it in bf16-mixed
           ["--trainer.max_steps=300", "--trainer.val_check_interval=150", "--trainer.precision=bf16-mixed"])],
        90, fit_figures(fit_root),
    ))
    steps.append(Step("imports", [*python(), str(REPO / "benchmarks" / "bench_imports.py"), "--repeats", "1" if smoke else "3"],
                      60, imports_figures))
    sweep_dir = work / "sweep"
    steps.append(Step(
        "sweep",
        [*python(), "-m", "lit_srl", "sweep", "run", str(write_sweep(work, backbone, smoke, data)),
         "--output-dir", str(sweep_dir), "--jobs", "2", "--no-baseline", *([] if smoke else ["--runs-per-gpu", "2"])],
        120, sweep_figures(sweep_dir),
    ))
    junit = work / "tests.xml"
    tests = [*python(), "-m", "pytest", "-v", "-p", "no:cacheprovider", "-m", "not slurm and not ddp",
             f"--junitxml={junit}"]
    if _has("xdist"):
        tests += ["-n", str(min(14, max(1, (os.cpu_count() or 2) - 2)))]
    steps.append(Step("tests", tests, 240, pytest_figures(junit)))
    # smoke: the suite is make test's, and train_bert_base is train_minilm's script again
    return [s for s in steps if s.name in args.only and not (smoke and s.name in SMOKE_SKIPS)]


def write_sweep(work: Path, backbone: str, smoke: bool, data: str) -> Path:
    """Four short runs (two objectives × two seeds) of the quickstart recipe in bf16-mixed; smoke: three
    tiny ones (three seeds: on two slots, the third starts warm)."""
    import yaml

    settings = {
        "model.backbone": backbone,
        "data.data_dir": data,
        "trainer.enable_progress_bar": False,
        "trainer.enable_model_summary": False,
    }
    if smoke:
        settings.update({"trainer.max_steps": 2, "trainer.val_check_interval": 2, "data.batch_size": 8,
                         "data.num_workers": 0, "data.test_tasks": ["STSBenchmark"]})
        grid = {"seed_everything": [1, 2, 3]}
    else:
        settings.update({"trainer.max_steps": 300, "trainer.val_check_interval": 300, "trainer.precision": "bf16-mixed"})
        grid = {"objective": {loss: [f"configs/loss/{loss}.yaml"] for loss in ("infonce", "arccon")},
                "seed_everything": [1, 2]}
    path = work / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "gpu_check", "configs": ["configs/quickstart.yaml"], "set": settings,
                                    "grid": grid}, sort_keys=False), encoding="utf-8")
    return path


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------------------- running
def run_step(step: Step, logs: Path, env: dict, deadline: float) -> None:
    """Run one step in its own session, output to its log. Its timeout (at most what is left before
    ``deadline``) kills the whole process group."""
    step.log = logs / f"{step.name}.log"
    left = deadline - time.monotonic()
    if left < 15:
        step.status = "not run: the budget is spent"
        print(f"[{step.name}] {step.status}", flush=True)
        return
    step.timeout = int(min(step.timeout, left))
    print(f"[{step.name}] {shlex.join(step.command)} (timeout {step.timeout} s, log {step.log})", flush=True)
    start = time.perf_counter()
    with open(step.log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(step.command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=step.timeout)
            step.status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            step.status = f"timed out after {step.timeout} s"
    step.seconds = time.perf_counter() - start
    print(f"[{step.name}] {step.status} in {step.seconds:.0f} s", flush=True)


def figures_of(step: Step) -> list[Figure]:
    log = step.log.read_text(encoding="utf-8", errors="replace") if step.log and step.log.is_file() else ""
    try:
        figures = step.figures(step, log)
    except Exception as exc:  # a figure that cannot be read is reported, the others still are
        figures = [Figure(step.name, "figures", f"not found: unreadable, {type(exc).__name__}: {exc}", "—", False)]
    if step.status != "ok":
        figures.insert(0, Figure(step.name, "step", step.status, "ok", False))
    return figures


def table(figures: list[Figure]) -> list[str]:
    lines = ["| step | figure | value | goal | met |", "|---|---|---:|---|:---:|"]
    for f in figures:
        met = "—" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(f"| {f.step} | {f.what} | {f.value} | {f.goal} | {met} |")
    return lines


def markdown(args, steps: list[Step], figures: list[Figure], command: str) -> str:
    from common import git_commit, machine_line, versions

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"### `make gpu-check`{' --smoke (toy sizes on the CPU: not measurements)' if args.smoke else ''}, {when}",
        "",
        f"- command: `{command}`; lit_srl commit {git_commit()}",
        f"- machine: {machine_line()}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in versions().items())}",
        "- steps: " + "; ".join(f"{s.name} {s.status} ({s.seconds:.0f} s of {s.timeout})" for s in steps),
        f"- total: {sum(s.seconds for s in steps):.0f} s; logs in `{args.out_dir}/logs/`",
        "",
    ]
    return "\n".join(head + table(figures)) + "\n"


def update_section(path: Path, section: str) -> None:
    """Replace the text between the gpu-check markers of ``path`` (append them if absent); atomic."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{START_MARKER}\n{section}{END_MARKER}"
    if START_MARKER in text and END_MARKER in text:
        before, rest = text.split(START_MARKER, 1)
        text = before + block + rest.split(END_MARKER, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (CI), not measurements")
    parser.add_argument("--out-dir", default="gpu_check", help="logs, results and gpu_check.md go here")
    parser.add_argument("--update", default=None, help="also write the section between FILE's gpu-check markers")
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"), help="the data root")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    parser.add_argument("--budget", type=float, default=480, help="seconds for all steps together (default 8 min)")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in STEPS]
    if unknown or not args.only:
        parser.error(f"--only: unknown or empty steps {unknown}; valid: {', '.join(STEPS)}")
    args.data_dir = Path(args.data_dir).expanduser().resolve()
    if not (args.data_dir / "senteval").is_dir():
        parser.error(f"no senteval/ under the data root {args.data_dir}; set --data-dir or LIT_SRL_DATA")
    return args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA device is visible; run on a GPU machine, or --smoke for the CPU check",
              file=sys.stderr)
        return 2
    out = Path(args.out_dir).resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LIT_SRL_DATA=str(args.data_dir), TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = out / "work"
        work.mkdir(exist_ok=True)
        # the sweep step measures runs started now: a finished one left by an earlier check would be
        # skipped (and one of other settings refused); the folder is this script's own scratch
        shutil.rmtree(work / "sweep", ignore_errors=True)
        if args.smoke:
            from common import build_random_bert

            args.tiny = build_random_bert(Path(tmp) / "tiny_bert", hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64)
        steps = plan(args, work)
        deadline = time.monotonic() + args.budget
        for step in steps:
            run_step(step, logs, env, deadline)
        figures = [f for step in steps for f in figures_of(step)]
    command = shlex.join(["python", "scripts/gpu_check.py", *argv])
    print("\n" + "\n".join(table(figures)))
    section = markdown(args, steps, figures, command)
    (out / "gpu_check.md").write_text(section, encoding="utf-8")
    if args.update:
        update_section(Path(args.update), section)
        print(f"wrote {out / 'gpu_check.md'} and the gpu-check section of {args.update}")
    else:
        print(f"wrote {out / 'gpu_check.md'}")
    missing = [f"{f.step}: {f.what}" for f in figures if f.missing]
    if missing:
        print(f"error: {len(missing)} figure(s) could not be read: {'; '.join(missing)}", file=sys.stderr)
    return 0 if all(s.status == "ok" for s in steps) and not missing else 1


if __name__ == "__main__":
    sys.exit(main())

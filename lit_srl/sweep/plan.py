"""The plan of a sweep: each run's folder, its exact ``fit`` command and its resolved config.

An output folder of a sweep holds::

    DIR/sweep.yaml                 the sweep file as planned (a later plan of this folder must match it)
    DIR/plan.json                  the runs: name, axis values, config files, overrides, fit command,
                                   folder (SLURM array tasks read their entry: :func:`frozen_runs`)
    DIR/baselines/<slug>.json      ``lit_srl eval`` of each untrained backbone (Δ in the report)
    DIR/runs/<name>/config.yaml    the run's resolved config
    DIR/runs/<name>/lightning_logs/version_N/   TensorBoard logs, checkpoints
    DIR/runs/<name>/result.json    written by the run when it finished (lit_srl.sweep.record)
    DIR/runs/<name>/failure.json   the last failed attempt (exit status, end of its log)
    DIR/runs/<name>/fit.log        the output of every attempt

A run's command is the same for every attempt — first start, rerun after a crash, requeued SLURM
task: ``--ckpt_path auto`` resumes from the run folder's newest readable checkpoint if there is
one (:func:`lit_srl.cli.newest_resumable_checkpoint`).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from lit_srl.errors import LitSrlError
from lit_srl.sweep.record import RESULT_NAME, write_json, write_text_atomic
from lit_srl.sweep.spec import BASELINE, Run, Sweep, format_value

log = logging.getLogger("lit_srl")
FAILURE_NAME = "failure.json"
LOG_NAME = "fit.log"
#: Seconds between progress lines while the runs' configs are resolved.
PROGRESS_SECONDS = 10.0


@dataclass
class PlannedRun:
    run: Run
    folder: Path
    config: dict

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def result_path(self) -> Path:
        return self.folder / RESULT_NAME

    def fit_args(self) -> list[str]:
        """``fit …``: the run's files and overrides, its folder, result and auto-resume."""
        return ["fit", *self.run.fit_args(), f"--trainer.default_root_dir={self.folder}",
                f"--result={self.result_path}", "--ckpt_path=auto"]

    def command(self) -> str:
        return shlex.join(["python", "-m", "lit_srl", *self.fit_args()])

    def _count(self, key: str) -> int:
        value = (self.config.get("trainer") or {}).get(key)
        if isinstance(value, list):
            return max(1, len(value))
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        return value if isinstance(value, int) and value > 0 else 1

    def devices(self) -> int:
        """Processes the run starts on each node (``trainer.devices``; ``auto`` counts as 1)."""
        return self._count("devices")

    def num_nodes(self) -> int:
        return self._count("num_nodes")

    def uses_gpu(self) -> bool:
        """False for ``trainer.accelerator: cpu``: such a run is placed on cores, whatever GPUs exist."""
        accelerator = (self.config.get("trainer") or {}).get("accelerator") or "auto"
        return str(accelerator).lower() != "cpu"


def baseline_key(config: dict) -> tuple[str, str]:
    """(backbone, pooler as evaluated): the untrained model a run is compared with.

    Training drops the head at evaluation, so ``cls`` is scored as the raw [CLS] vector.
    """
    model = config.get("model") or {}
    pooler = model.get("pooler") or "cls"
    return str(model.get("backbone")), ("cls_before_pooler" if pooler == "cls" else pooler)


def baseline_path(output_dir: Path, config: dict) -> Path:
    backbone, pooler = baseline_key(config)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(backbone).name or backbone)
    return Path(output_dir) / "baselines" / f"{slug}_{pooler}.json"


def baseline_args(output_dir: Path, config: dict) -> list[str]:
    """``eval`` of the untrained backbone with the runs' pooler, tasks and data root."""
    backbone, pooler = baseline_key(config)
    data = config.get("data") or {}
    args = ["eval", "--model", backbone, "--pooler", pooler, "--output", str(baseline_path(output_dir, config))]
    if data.get("test_tasks"):
        args += ["--tasks", ",".join(data["test_tasks"])]
    if data.get("data_dir"):
        args += ["--data-dir", str(data["data_dir"])]
    return args


def resolve(run: Run, args: list[str]) -> dict:
    """The resolved config of ``fit ARGS``; a key the CLI does not know is one line naming the run."""
    from lit_srl.cli import config_error_line, resolve_fit_config

    try:
        return resolve_fit_config(args)
    except argparse.ArgumentError as exc:
        raise LitSrlError(f"run {run.name}: {config_error_line(exc)}") from exc
    except SystemExit as exc:  # jsonargparse exits on some malformed values
        raise LitSrlError(f"run {run.name}: its config does not parse (exit {exc.code})") from exc


def make_plan(sweep: Sweep, output_dir: Path) -> list[PlannedRun]:
    """Every run with its folder and resolved config: all checked before any run starts.

    A line of progress every :data:`PROGRESS_SECONDS` (a large sweep takes a while: about 0.15 s a run).
    """
    planned = [PlannedRun(run, Path(output_dir) / "runs" / run.name, {}) for run in sweep.runs]
    start = last = time.monotonic()
    for i, p in enumerate(planned):
        p.config = resolve(p.run, p.fit_args()[1:])
        if i == 0:  # the first one builds the CLI's parser
            start = last = time.monotonic()
        elif time.monotonic() - last >= PROGRESS_SECONDS:
            last = time.monotonic()
            log.info("resolving the runs' configs: %d of %d (%.0f s)", i + 1, len(planned), last - start)
    return planned


def write_plan(sweep: Sweep, planned: list[PlannedRun], output_dir: Path) -> None:
    """``sweep.yaml``, ``plan.json`` and every run's ``config.yaml`` in the output folder.

    A folder planned from another sweep file is refused (its runs would mix with these).
    """
    import yaml

    output_dir = Path(output_dir)
    copy = output_dir / "sweep.yaml"
    text = sweep.path.read_text(encoding="utf-8")
    if copy.is_file() and copy.resolve() != sweep.path.resolve() and copy.read_text(encoding="utf-8") != text:
        raise LitSrlError(
            f"{output_dir} holds another sweep ({copy} differs from {sweep.path}); use another --output-dir "
            "or move that folder away"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    if copy.resolve() != sweep.path.resolve():
        write_text_atomic(copy, text)
    write_json(output_dir / "plan.json", {
        "sweep": sweep.name,
        "runs": [{"name": p.name, "axes": p.run.axes, "configs": list(p.run.configs),
                  "set": [[key, format_value(value)] for key, value in p.run.overrides], "command": p.command(),
                  "folder": str(p.folder), "baseline": str(baseline_path(output_dir, p.config))} for p in planned],
    })
    for p in planned:
        p.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(p.folder / "config.yaml", yaml.safe_dump(p.config, sort_keys=False))


def read_plan(output_dir: Path) -> Optional[dict]:
    path = Path(output_dir) / "plan.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def frozen_runs(output_dir: Path, name: str) -> list[PlannedRun]:
    """What one array task needs from the plan frozen by ``sweep slurm``: the run ``name``, or for
    ``baseline`` one run per untrained backbone (whose baselines the task scores).

    Reads ``plan.json`` and those runs' ``config.yaml``; resolves nothing and writes nothing.
    """
    import yaml

    output_dir = Path(output_dir)
    plan = read_plan(output_dir)
    if plan is None:
        raise LitSrlError(f"{output_dir} has no plan.json; write the job with python -m lit_srl sweep slurm first")
    entries = plan.get("runs") or []
    if any("set" not in entry for entry in entries):
        raise LitSrlError(f"{output_dir}/plan.json was written by an older lit_srl; write the job again with "
                          "python -m lit_srl sweep slurm")
    if name == BASELINE:
        first: dict[str, dict] = {}
        for entry in entries:
            first.setdefault(entry["baseline"], entry)
        chosen = list(first.values())
    else:
        chosen = [entry for entry in entries if entry["name"] == name]
        if not chosen:
            raise LitSrlError(f"{output_dir}/plan.json has no run {name!r}; its runs: "
                              f"{', '.join(entry['name'] for entry in entries)}, {BASELINE}")
    planned = []
    for entry in chosen:
        folder = Path(entry["folder"])
        run = Run(entry["name"], tuple(entry["configs"]), tuple((key, value) for key, value in entry["set"]),
                  entry.get("axes") or {})
        try:
            config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        except OSError as exc:
            raise LitSrlError(f"run {run.name}: its resolved config {folder / 'config.yaml'} cannot be read "
                              f"({exc.strerror}); write the job again with python -m lit_srl sweep slurm") from exc
        planned.append(PlannedRun(run, folder, config))
    return planned


def format_plan(planned: list[PlannedRun], output_dir: Path) -> str:
    lines = [f"{len(planned)} runs (output {output_dir}):"]
    for i, p in enumerate(planned):
        state = "finished" if p.result_path.is_file() else ("failed before" if (p.folder / FAILURE_NAME).is_file() else "to run")
        lines += [f"[{i}] {p.name} ({state})", f"    {p.command()}"]
    keys = sorted({baseline_path(output_dir, p.config) for p in planned})
    for path in keys:
        config = next(p.config for p in planned if baseline_path(output_dir, p.config) == path)
        lines += [f"[{BASELINE}] {path}", f"    {shlex.join(['python', '-m', 'lit_srl', *baseline_args(output_dir, config)])}"]
    return "\n".join(lines)

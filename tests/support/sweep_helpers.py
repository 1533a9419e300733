"""Helpers of the sweep tests: tiny sweep files and ``sweep`` commands run as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]


def config(name: str) -> str:
    return str(REPO / "configs" / name)


def tiny_settings(tiny_bert, steps: int = 6, val_every: int = 3) -> dict:
    """``set:`` of a tiny, quick run: the tiny BERT, batch 8, STS-B only at test."""
    return {
        "model.backbone": str(tiny_bert),
        "trainer.max_steps": steps,
        "trainer.val_check_interval": val_every,
        "trainer.log_every_n_steps": 1,
        "trainer.enable_progress_bar": False,
        "trainer.enable_model_summary": False,
        "data.batch_size": 8,
        "data.num_workers": 0,
        "data.test_tasks": ["STSBenchmark"],
    }


def write_sweep(path: Path, body: dict) -> Path:
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def recorder_settings(log: Path, signal_at: int = 0, signal_name: str = "SIGKILL", once: bool = True) -> dict:
    """``set:`` entries adding tests/support/recorder.py's BatchRecorder (and its kill switch) to a run."""
    return {
        "trainer.callbacks+": "support.recorder.BatchRecorder",
        "trainer.callbacks.path": str(log),
        "trainer.callbacks.signal_at_step": signal_at,
        "trainer.callbacks.signal_name": signal_name,
        "trainer.callbacks.signal_once": once,
    }


def env() -> dict:
    return dict(
        os.environ,
        TOKENIZERS_PARALLELISM="false",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
    )


def as_terminal_job() -> None:
    """``preexec_fn`` of a command started as a terminal's foreground job: SIGINT and SIGHUP at their
    defaults. A child inherits ignored signals, and pytest-xdist's workers ignore SIGINT, as does
    everything under ``nohup make test`` SIGHUP."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def sweep_cmd(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m lit_srl sweep ARGS`` from the repository root, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "lit_srl", "sweep", *args], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def sweep_popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lit_srl", "sweep", *args], cwd=REPO, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def result(output: Path, name: str) -> dict:
    return json.loads((output / "runs" / name / "result.json").read_text(encoding="utf-8"))


def attempts(output: Path, name: str) -> list[dict]:
    path = output / "runs" / name / "attempts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

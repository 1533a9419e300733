"""A dead runner: ``sweep run`` goes away while its fit is in the middle of a run — SIGHUP (the ssh
session it ran in dropped) or SIGKILL (``kill -9``, the OOM killer).

What must survive: every step the fit finished — its ``last.ckpt`` is at the step it was in, so
the rerun resumes without losing one — and the rule of one fit per run: the fit does not go on
without its runner, and while it is still alive (finishing its step, saving) a rerun reports the
run busy and starts nothing. The warm standby waiting for the next run ends with the runner too,
having started nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lit_srl.sweep.plan import PlannedRun
from lit_srl.sweep.runner import SweepRunner
from lit_srl.sweep.spec import load_sweep
from support.recorder import read_records
from support.sweep_helpers import REPO, as_terminal_job, config, env, tiny_settings, write_sweep

pytestmark = pytest.mark.processes


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children(pid: int) -> set[int]:
    return {int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("death", ["SIGHUP", "SIGKILL"])
def test_a_dead_runner_leaves_no_fit_running_and_a_rerun_meanwhile_finds_the_run_busy(death, tmp_path, tiny_bert,
                                                                                       data_dir):
    out, log = tmp_path / "out", tmp_path / "batches.jsonl"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": {**tiny_settings(tiny_bert, steps=40, val_every=40), "trainer.callbacks+": "support.slow_steps.SlowRecorder",
                "trainer.callbacks.path": str(log), "trainer.callbacks.seconds": 1.0},
        "runs": [{"name": "long"}, {"name": "next"}],
    })
    # a terminal's job: a session of its own, as an ssh login would have
    runner = subprocess.Popen([sys.executable, "-m", "lit_srl", "sweep", "run", str(path), "--output-dir", str(out),
                               "--no-baseline"], cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True, preexec_fn=as_terminal_job)
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, 300, "two training steps")
        lock = out / "runs" / "long" / ".lock"
        fit = int(lock.read_text().split("@")[0])  # the fit itself holds its run's lock
        assert fit != runner.pid and alive(fit)
        wait_for(lambda: len(children(runner.pid) - {fit}) == 1, 30, "the standby for the next run")
        (standby,) = children(runner.pid) - {fit}

        runner.send_signal(getattr(signal, death))
        if death == "SIGKILL":
            runner.wait(30)
        run = next(run for run in load_sweep(path).runs if run.name == "long")
        rerun = SweepRunner([PlannedRun(run, out / "runs" / "long", {})], out, python="/bin/false")
        assert rerun.run_one(rerun.planned[0], 0) == "busy"  # the fit is still finishing its step

        wait_for(lambda: not alive(fit), 120, f"the fit (pid {fit}) to end without its runner")
        wait_for(lambda: not alive(standby), 60, f"the standby (pid {standby}) to end without its runner")
        output, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == (128 + signal.SIGHUP if death == "SIGHUP" else -signal.SIGKILL), output
    steps = [r["step"] for r in read_records(log)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) < 40
    (last,) = (out / "runs" / "long").rglob("last.ckpt")
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == steps[-1]
    assert not (out / "runs" / "long" / "failure.json").exists()
    starts = [line for line in (out / "runs" / "long" / "fit.log").read_text().splitlines() if line.startswith("# ")]
    assert len(starts) == 1, starts  # the rerun started nothing
    assert not (out / "runs" / "next" / "fit.log").exists()  # nor did the standby

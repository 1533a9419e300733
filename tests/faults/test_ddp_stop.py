"""A stop signal that reaches one DDP rank only stops every rank before the same step.

Two real gloo ranks (Lightning launches rank 1 from rank 0's process). Rank 1 alone gets SIGTERM,
once inside a dev evaluation and once between steps; rank 0 never gets it. The ranks agree through
lit_srl.preemption.StopAgreement, so both stop after the step following the signal's: the fit
exits 143 with ``last.ckpt`` at that step and no traceback (not a hang in a collective, nor a
collective issued from inside a signal handler), and the same command rerun with
``--ckpt_path auto`` ends as the straight run: the same losses at the same TensorBoard steps, dev
curve, best step and test scores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.helpers import fit_args, read_scalars
from support.sweep_helpers import env

pytestmark = pytest.mark.ddp

STEPS, VAL_EVERY = 6, 2
STOPPED = 128 + 15  # SIGTERM
#: moment of rank 1's signal → the step every rank stops after: the signal's step + 1, since each
#: step's start reads the flags posted at the previous step's start (a signal inside the
#: evaluation of step 2 is posted at the start of step 3)
STOPS = {"validation_batch@2/1": 3, "train_batch_start@3": 5}


def ddp_fit(root: Path, tiny_bert, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lit_srl", *fit_args(
        root, str(tiny_bert), "--trainer.devices=2", "--trainer.accelerator=cpu",
        "--data.test_tasks=[STSBenchmark]", f"--result={root / 'result.json'}", *extra,
        steps=STEPS, val_every=VAL_EVERY, batch=8, configs=("trainer/ddp.yaml",))]


def run(command: list[str], root: Path) -> tuple[int, str]:
    """The fit in its own session; a hang in a collective fails the test at the timeout."""
    log = root / f"fit{len(list(root.glob('fit*.log')))}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=root, env=env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            subprocess.run(["kill", "-KILL", "--", f"-{proc.pid}"])
            proc.wait()
            returncode = "hung"
    return returncode, log.read_text(errors="replace")


def outcome(root: Path) -> dict:
    result = json.loads((root / "result.json").read_text())
    return {"losses": read_scalars(root)["train/loss"], "dev_curve": result["selection"]["dev_curve"],
            "best_step": result["selection"]["best_step"], "scores": result["scores"]}


def test_sigterm_to_one_ddp_rank_stops_both_at_the_same_step_and_resumes_to_the_straight_run(
        tiny_bert, data_dir, tmp_path):
    straight_root, stopped_root = tmp_path / "straight", tmp_path / "stopped"
    straight_root.mkdir(), stopped_root.mkdir()
    returncode, log = run(ddp_fit(straight_root, tiny_bert), straight_root)
    assert returncode == 0, log[-3000:]

    signal_rank_1 = ("--trainer.callbacks+=support.signal_moment.SignalAt",
                     f"--trainer.callbacks.at=[{','.join(STOPS)}]", f"--trainer.callbacks.marker_dir={stopped_root}",
                     "--trainer.callbacks.send=self", "--trainer.callbacks.rank=1", "--ckpt_path=auto")
    command = ddp_fit(stopped_root, tiny_bert, *signal_rank_1)
    for moment, step in STOPS.items():
        returncode, log = run(command, stopped_root)
        assert returncode == STOPPED, f"rank 1 signalled at {moment}: exit {returncode}\n{log[-3000:]}"
        assert "Traceback" not in log, log[-3000:]
        assert log.count(f"stopped by SIGTERM after step {step}") == 2, log[-3000:]  # both ranks, one step
        (last,) = stopped_root.rglob("last.ckpt")
        assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == step, moment
        assert not (stopped_root / "result.json").exists()
    returncode, log = run(command, stopped_root)
    assert returncode == 0, log[-3000:]

    resumed, straight = outcome(stopped_root), outcome(straight_root)
    assert [s for s, _ in resumed["losses"]] == [s for s, _ in straight["losses"]] == list(range(STEPS))
    assert [v for _, v in resumed["losses"]] == pytest.approx([v for _, v in straight["losses"]], rel=1e-6)
    assert [s for s, _ in resumed["dev_curve"]] == [s for s, _ in straight["dev_curve"]] == [2, 4, 6]
    assert [r for _, r in resumed["dev_curve"]] == pytest.approx([r for _, r in straight["dev_curve"]], abs=1e-7)
    assert resumed["best_step"] == straight["best_step"]
    assert resumed["scores"] == pytest.approx(straight["scores"], abs=1e-6)

"""Runs that survive: exact resume after SIGKILL, a checkpoint on SIGUSR1, NaN steps skipped."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch

from support.helpers import fit_args, read_scalars, run_cli
from support.recorder import read_records
from support.sweep_helpers import env

#: one worker runs the module, so the uninterrupted run (a module fixture) is computed once
pytestmark = [pytest.mark.processes, pytest.mark.xdist_group("resume")]


def run_fit(args: list[str], cwd, **environ: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lit_srl", *args], cwd=cwd, env={**env(), **environ},
                          capture_output=True, text=True, timeout=600)


def recorded_fit(root, tiny_bert, log, *extra: str, signal_at: int = 0, signal_name: str = "SIGKILL"):
    recorder = (
        "--trainer.callbacks+=support.recorder.BatchRecorder",
        f"--trainer.callbacks.path={log}",
        f"--trainer.callbacks.signal_at_step={signal_at}",
        f"--trainer.callbacks.signal_name={signal_name}",
    )
    # dropout on: a tiny BERT whose dropout masks decide the loss; workers on: the real data path
    args = fit_args(root, str(tiny_bert), *recorder, "--data.num_workers=1", *extra, steps=10, val_every=3, batch=8)
    return run_fit(args, cwd=root)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_bert, data_dir):
    root = tmp_path_factory.mktemp("straight")
    proc = recorded_fit(root, tiny_bert, root / "batches.jsonl")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return read_records(root / "batches.jsonl")


def test_resume_after_sigkill_replays_the_same_batches_and_losses(uninterrupted, tiny_bert, tmp_path):
    log = tmp_path / "batches.jsonl"
    crashed = recorded_fit(tmp_path, tiny_bert, log, signal_at=7)
    assert crashed.returncode == -9  # killed after step 7; last.ckpt is from the evaluation at step 6
    resumed = recorded_fit(tmp_path, tiny_bert, log, "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = read_records(log)
    assert [r["step"] for r in records] == list(range(1, 8)) + list(range(7, 11))
    after = records[7:]
    expected = uninterrupted[6:]
    assert [r["fingerprint"] for r in after] == [r["fingerprint"] for r in expected]
    assert [r["loss"] for r in after] == pytest.approx([r["loss"] for r in expected], rel=1e-6, abs=1e-9)
    # the resumed run continued the same TensorBoard version
    assert len(list((tmp_path / "lightning_logs").iterdir())) == 1


def test_sigusr1_saves_a_resumable_checkpoint_and_exits_unfinished(uninterrupted, tiny_bert, tmp_path):
    """SLURM's time-limit warning (``--signal=SIGUSR1@90``): the step finishes, last.ckpt holds it,
    the exit status is 128 + SIGUSR1 (not 0: a runner must resume it). SIGTERM to the whole process
    group, at every kind of moment: tests/faults/test_sigterm_preemption.py."""
    log = tmp_path / "batches.jsonl"
    stopped = recorded_fit(tmp_path, tiny_bert, log, signal_at=4, signal_name="SIGUSR1")
    assert stopped.returncode == 128 + signal.SIGUSR1, stopped.stderr[-3000:]
    (last,) = tmp_path.rglob("last.ckpt")
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4
    resumed = recorded_fit(tmp_path, tiny_bert, log, "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = read_records(log)
    assert [r["step"] for r in records] == list(range(1, 11))
    assert [r["fingerprint"] for r in records] == [r["fingerprint"] for r in uninterrupted]
    assert [r["loss"] for r in records] == pytest.approx([r["loss"] for r in uninterrupted], rel=1e-6, abs=1e-9)


def test_non_finite_steps_are_skipped_counted_and_stop_the_run(tiny_bert, data_dir, tmp_path, capsys):
    nan_loss = [
        "--model.loss=support.nan_loss.NaNEveryStepFrom",
        "--model.loss.start=3",
        "--model.max_consecutive_skips=3",
    ]
    assert run_cli(fit_args(tmp_path, str(tiny_bert), *nan_loss, steps=10, val_every=100)) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: 3 optimizer steps in a row had a non-finite loss")
    scalars = read_scalars(tmp_path)
    assert [v for _, v in scalars["train/skipped_steps"]][:2] == [1.0, 2.0]


def test_a_checkpoint_alone_resumes_the_run_without_its_yaml(uninterrupted, tiny_bert, tmp_path):
    log = tmp_path / "batches.jsonl"
    crashed = recorded_fit(tmp_path, tiny_bert, log, signal_at=7)
    assert crashed.returncode == -9
    (last,) = tmp_path.rglob("last.ckpt")
    # no --config, no model/data/trainer options: everything comes from the checkpoint — even the
    # recorder callback, whose kill switch is the one option given here
    temp = tmp_path / "temp"
    temp.mkdir()
    resumed = run_fit(["fit", f"--ckpt_path={last}", "--trainer.callbacks.init_args.signal_at_step=0"], cwd=tmp_path,
                      TMPDIR=str(temp))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming with the config stored in" in resumed.stderr
    assert not list(temp.glob("lit_srl_resume_*.yaml"))  # the stored config's temporary file is gone
    records = read_records(log)
    assert [r["step"] for r in records] == list(range(1, 8)) + list(range(7, 11))
    assert [r["fingerprint"] for r in records[7:]] == [r["fingerprint"] for r in uninterrupted[6:]]
    assert [r["loss"] for r in records[7:]] == pytest.approx([r["loss"] for r in uninterrupted[6:]], rel=1e-6, abs=1e-9)

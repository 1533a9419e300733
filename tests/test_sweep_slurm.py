"""Sweeps as real SLURM job arrays on the local cluster (scripts/local_slurm.sh): runs, requeue, resume."""

from __future__ import annotations

import json
import time

import pytest
from slurm_cluster import cancel, job_states, requeue, slurm, submit, wait_for  # noqa: F401  (slurm: fixture)

from recorder import read_records
from sweep_helpers import REPO, config, env, recorder_settings, result, sweep_cmd, tiny_settings, write_sweep

pytestmark = pytest.mark.slurm


def submit_sweep(path, out, monkeypatch) -> str:
    # the job inherits the submitting environment: the tests folder for recorder.BatchRecorder
    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])
    written = sweep_cmd("slurm", str(path), "--output-dir", str(out), "--cpus-per-task=1", timeout=300)
    assert written.returncode == 0, written.stderr
    assert f"sbatch {out / 'sweep.sbatch'}" in written.stdout
    return submit(out / "sweep.sbatch", REPO)


def signal_steps(task: str, name: str) -> None:
    import subprocess

    done = subprocess.run(["scancel", f"--signal={name}", task], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def task_logs(out) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted((out / "slurm").glob("*.out")))


def test_a_sweep_job_array_runs_every_run_and_its_baseline(slurm, tmp_path, tiny_bert, data_dir, monkeypatch):
    out = tmp_path / "out"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": tiny_settings(tiny_bert, steps=4, val_every=2),
        "grid": {"seed_everything": [1, 2]},
    })
    job = submit_sweep(path, out, monkeypatch)
    try:
        states = wait_for(job, timeout=600)
    finally:
        cancel(job)
    assert set(states.values()) == {"COMPLETED"}, (states, task_logs(out))
    assert len(states) == 3  # two runs and the baseline
    for name in ("seed1", "seed2"):
        record = result(out, name)
        assert record["train"]["steps"] == 4 and "STSBenchmark" in record["scores"]
        assert json.loads((out / "runs" / name / "attempts.jsonl").read_text().splitlines()[0])["returncode"] == 0
        # the fit ran as an srun step of the array task, in Lightning's SLURM environment
        assert "srun" in (out / "runs" / name / "fit.log").read_text()
    assert list((out / "baselines").glob("*.json"))
    report = sweep_cmd("report", str(out))
    assert report.returncode == 0 and "| default |" in report.stdout and "2/2" in report.stdout, report.stderr


@pytest.mark.parametrize("how", ["scontrol_requeue", "sigusr1"])
def test_a_requeued_array_task_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_run(
        how, slurm, tmp_path, tiny_bert, data_dir, monkeypatch):
    """``scontrol requeue`` (SIGTERM to every process of the task) and the time-limit warning
    (``--signal=SIGUSR1@90``: SIGUSR1 to the fit, which saves and requeues the task itself)."""
    out = tmp_path / "out"
    logs = {name: tmp_path / f"{name}.jsonl" for name in ("requeued", "straight")}
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": {**tiny_settings(tiny_bert, steps=60, val_every=10), "data.num_workers": 1, "seed_everything": 3},
        # two runs of one config: the first is requeued while it trains, the second is not
        "runs": [{"name": name, "set": recorder_settings(log, once=False)} for name, log in logs.items()],
    })
    job = submit_sweep(path, out, monkeypatch)
    task = f"{job}_0"
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            done = len(read_records(logs["requeued"])) if logs["requeued"].exists() else 0
            if done >= 12:  # past the evaluation (and last.ckpt) at step 10
                break
            assert job_states(task).get(task) in ("PENDING", "RUNNING", "CONFIGURING"), task_logs(out)
            time.sleep(0.2)
        else:
            pytest.fail(f"the run did not reach step 12 in time:\n{task_logs(out)}")
        if how == "scontrol_requeue":
            requeue(task)
        else:  # what --signal=SIGUSR1@90 sends before the time limit: to the job's steps (the fit)
            signal_steps(task, "USR1")
        states = wait_for(job, timeout=900)
    finally:
        cancel(job)
    assert set(states.values()) == {"COMPLETED"}, (states, task_logs(out))
    assert "restart 1" in task_logs(out)  # the array task ran again after the requeue
    fit_log = (out / "runs" / "requeued" / "fit.log").read_text()
    assert "resuming from" in fit_log and "last.ckpt" in fit_log
    if how == "sigusr1":
        assert "received SIGUSR1" in fit_log and "requeued SLURM job" in fit_log
    assert "not resumable" not in fit_log  # Lightning's mid-epoch resume warning is gone

    requeued, straight = read_records(logs["requeued"]), read_records(logs["straight"])
    steps = [r["step"] for r in requeued]
    # the first attempt got past step 12; the resumed one starts after its checkpoint's step (steps
    # between that checkpoint and the stop, if any, are trained again)
    assert steps[-1] == 60 and sorted(set(steps)) == list(range(1, 61)) and len(steps) >= 60
    # from the checkpoint on, the resumed run replays the uninterrupted one: same batches, same losses
    last_by_step = {r["step"]: r for r in requeued}
    assert [last_by_step[s]["fingerprint"] for s in range(1, 61)] == [r["fingerprint"] for r in straight]
    assert [last_by_step[s]["loss"] for s in range(1, 61)] == pytest.approx([r["loss"] for r in straight], rel=1e-6, abs=1e-9)
    a, b = result(out, "requeued"), result(out, "straight")
    assert a["scores"] == pytest.approx(b["scores"], abs=1e-6)
    assert a["selection"]["best_step"] == b["selection"]["best_step"]
    assert len((out / "runs" / "requeued" / "attempts.jsonl").read_text().splitlines()) == 2

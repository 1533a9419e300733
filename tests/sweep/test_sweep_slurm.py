"""Sweeps as real SLURM job arrays on the local cluster (scripts/local_slurm.sh): runs, requeue, resume."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from support.slurm_cluster import cancel, requeue, submit, wait_for

from support.recorder import read_records
from support.sweep_helpers import REPO, config, env, recorder_settings, result, sweep_cmd, tiny_settings, write_sweep

pytestmark = pytest.mark.slurm


def submit_sweep(path, out, monkeypatch) -> str:
    # the job inherits the submitting environment: the tests folder for recorder.BatchRecorder
    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])
    written = sweep_cmd("slurm", str(path), "--output-dir", str(out), "--cpus-per-task=1", timeout=300)
    assert written.returncode == 0, written.stderr
    assert f"sbatch {out / 'sweep.sbatch'}" in written.stdout
    return submit(out / "sweep.sbatch", REPO)


def signal_fit(result_path, signum: int) -> None:
    """Send ``signum`` to the fit process of a run, as slurmstepd does for ``--signal=USR1@N``.

    (``scancel --signal=USR1`` reaches it too, but it may block while slurmctld handles another
    requeue and then hit the *requeued* task's new step; the warning of ``--signal`` comes once.)
    """
    import os

    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode()).name.startswith("python") and f"--result={result_path}".encode() in argv:
            os.kill(int(proc.name), signum)
            return
    pytest.fail(f"no fit process writes {result_path}")


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


def test_requeued_array_tasks_resume_from_their_checkpoints_and_end_as_an_uninterrupted_run(
        slurm, tmp_path, tiny_bert, data_dir, monkeypatch):
    """Three runs of one config: one gets ``scontrol requeue`` (SIGTERM to every process of its task),
    one the time-limit warning (``--signal=SIGUSR1@90``: SIGUSR1 to the fit, which saves and
    requeues its task itself), one runs straight through; all three end the same."""
    out = tmp_path / "out"
    names = ("requeued", "warned", "straight")
    logs = {name: tmp_path / f"{name}.jsonl" for name in names}
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": {**tiny_settings(tiny_bert, steps=40, val_every=20), "data.num_workers": 1, "seed_everything": 3},
        "runs": [{"name": name, "set": recorder_settings(logs[name], once=False)} for name in names],
    })
    job = submit_sweep(path, out, monkeypatch)
    interrupt = {"requeued": lambda task: requeue(task),
                 "warned": lambda task: signal_fit(out / "runs" / "warned" / "result.json", signal.SIGUSR1)}
    try:
        pending, deadline = dict(interrupt), time.time() + 600
        while pending and time.time() < deadline:
            for index, name in enumerate(names[:2]):
                done = len(read_records(logs[name])) if logs[name].exists() else 0
                if name in pending and done >= 22:  # past the evaluation (and last.ckpt) at step 20
                    pending.pop(name)(f"{job}_{index}")
            time.sleep(0.2)
        assert not pending, f"not interrupted in time: {sorted(pending)}\n{task_logs(out)}"
        states = wait_for(job, timeout=900)
    finally:
        cancel(job)
    assert set(states.values()) == {"COMPLETED"}, (states, task_logs(out))
    assert task_logs(out).count("(restart 1)") == 2  # both interrupted tasks ran again
    straight = read_records(logs["straight"])
    b = result(out, "straight")
    for name in names[:2]:
        fit_log = (out / "runs" / name / "fit.log").read_text()
        assert "resuming from" in fit_log and "last.ckpt" in fit_log
        assert "not resumable" not in fit_log  # Lightning's mid-epoch resume warning is gone
        assert len((out / "runs" / name / "attempts.jsonl").read_text().splitlines()) == 2
        records = read_records(logs[name])
        steps = [r["step"] for r in records]
        # steps between the checkpoint and the stop, if any, are trained again
        assert steps[-1] == 40 and sorted(set(steps)) == list(range(1, 41)) and len(steps) >= 40
        # from the checkpoint on, the resumed run replays the uninterrupted one: same batches, same losses
        last_by_step = {r["step"]: r for r in records}
        assert [last_by_step[s]["fingerprint"] for s in range(1, 41)] == [r["fingerprint"] for r in straight]
        assert [last_by_step[s]["loss"] for s in range(1, 41)] == pytest.approx([r["loss"] for r in straight],
                                                                              rel=1e-6, abs=1e-9)
        a = result(out, name)
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-6)
        assert a["selection"]["best_step"] == b["selection"]["best_step"]
    warned_log = (out / "runs" / "warned" / "fit.log").read_text()
    assert "received SIGUSR1" in warned_log and "requeued SLURM job" in warned_log


def test_runs_per_gpu_on_a_cluster_without_gpu_sharing_is_one_line(slurm, tmp_path, tiny_bert, capsys):
    from lit_srl.cli import main

    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": tiny_settings(tiny_bert), "grid": {"seed_everything": [1, 2]}})
    assert main(["sweep", "slurm", str(path), "--output-dir", str(tmp_path / "out"), "--runs-per-gpu", "2",
                 "--partition", "debug"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no node here shares its GPUs as shard GRES" in err[0], err
    assert not (tmp_path / "out" / "sweep.sbatch").exists()

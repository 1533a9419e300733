"""Smoke tests of the real single-node SLURM cluster (scripts/local_slurm.sh): a job array, a requeue."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from support.slurm_cluster import cancel, job_state, requeue, submit, wait_for

pytestmark = pytest.mark.slurm


def _wait_until(condition, timeout: float, what: str, poll: float = 0.2) -> float:
    """Poll ``condition()`` until true; the seconds it took. Fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - start


def test_job_array_runs_every_task(slurm, tmp_path: Path) -> None:
    script = tmp_path / "array.sh"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=lit_srl_array\n"
        "#SBATCH --array=0-2\n"
        "#SBATCH --cpus-per-task=1\n"
        f"#SBATCH --output={tmp_path}/out_%A_%a.txt\n"
        f"{sys.executable} -c 'import os, pathlib; t = os.environ[\"SLURM_ARRAY_TASK_ID\"]; "
        f"pathlib.Path(\"{tmp_path}/task_\" + t + \".txt\").write_text(t); print(\"task\", t)'\n"
    )
    job = submit(script, tmp_path)
    try:
        states = wait_for(job, timeout=120)
    finally:
        cancel(job)
    assert states == {f"{job}_{i}": "COMPLETED" for i in range(3)}
    for i in range(3):
        assert (tmp_path / f"task_{i}.txt").read_text() == str(i)
        assert (tmp_path / f"out_{job}_{i}.txt").read_text().strip() == f"task {i}"
    assert job_state(f"{job}_1") == "COMPLETED"


def test_requeued_job_starts_again(slurm, tmp_path: Path) -> None:
    starts = tmp_path / "starts.txt"
    script = tmp_path / "sleeper.sh"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=lit_srl_requeue\n"
        "#SBATCH --cpus-per-task=1\n"
        f"#SBATCH --output={tmp_path}/out_%j.txt\n"
        f"echo \"${{SLURM_RESTART_COUNT:-0}}\" >> {starts}\n"
        "sleep 300\n"
    )

    def restart_counts() -> list[str]:
        return starts.read_text().split() if starts.exists() else []

    job = submit(script, tmp_path, "--requeue")
    try:
        _wait_until(lambda: restart_counts() == ["0"] and job_state(job) == "RUNNING", 60, "first start")
        requeued_at = time.monotonic()
        requeue(job)
        # scontrol requeue: PENDING (Reason=BeginTime) for cred_expire + 1 s, then the next scheduler
        # pass starts it again (about 7 s with scripts/local_slurm.sh's settings; 2 min by default)
        _wait_until(lambda: len(restart_counts()) >= 2, 60, "start after scontrol requeue")
        delay = time.monotonic() - requeued_at
        print(f"requeued job {job} started again after {delay:.1f} s")
        assert restart_counts() == ["0", "1"]
        assert job_state(job) == "RUNNING"
    finally:
        cancel(job)
    assert wait_for(job, timeout=60)[job] == "CANCELLED"

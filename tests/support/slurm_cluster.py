"""A real SLURM cluster for the tests: the ``slurm`` fixture and helpers to submit and poll jobs.

The cluster is the one ``scripts/local_slurm.sh start`` runs (its slurm.conf in
``${LIT_SRL_SLURM_DIR:-/tmp/lit_srl_slurm}``), or any cluster ``$SLURM_CONF`` points at. Tests use
it with ``from support.slurm_cluster import slurm, submit, wait_for``. Without a cluster the tests skip, except under CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "local_slurm.sh"

# job states that will still change: wait_for waits while any task is in one of them
ACTIVE_STATES = frozenset(
    {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "REQUEUE_FED", "RESIZING",
     "SIGNALING", "STAGE_OUT", "SUSPENDED"}
)
GONE = "GONE"  # slurmctld no longer knows the job (purged after MinJobAge)


def default_conf() -> Path:
    return Path(os.environ.get("LIT_SRL_SLURM_DIR", "/tmp/lit_srl_slurm")) / "slurm.conf"


def _slurm(*args: str, timeout: float = 30, conf: str | os.PathLike | None = None, cwd=None):
    env = dict(os.environ)
    if conf is not None:
        env["SLURM_CONF"] = str(conf)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def answers(conf: str | os.PathLike) -> bool:
    """True when the cluster of ``conf`` answers and has a partition up."""
    if not Path(conf).is_file():
        return False
    try:
        result = _slurm("sinfo", "-h", "-o", "%a", conf=conf, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and "up" in result.stdout.split()


def find_cluster() -> Path | None:
    """slurm.conf of a cluster that answers: ``$SLURM_CONF``, else the local script's default."""
    candidates = [Path(os.environ["SLURM_CONF"])] if os.environ.get("SLURM_CONF") else []
    candidates.append(default_conf())
    return next((conf for conf in candidates if answers(conf)), None)


def start_local() -> str:
    """``scripts/local_slurm.sh start`` (root only: it may apt-get install); its output, for errors."""
    if os.geteuid() != 0:
        return "not root: not starting scripts/local_slurm.sh"
    try:
        result = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "scripts/local_slurm.sh start timed out"
    return f"scripts/local_slurm.sh start exited {result.returncode}: {result.stdout}{result.stderr}".strip()


@pytest.fixture(scope="session")
def slurm() -> Path:
    """slurm.conf of a running cluster (exported as ``$SLURM_CONF`` for the helpers and sbatch)."""
    conf = find_cluster()
    why = "no SLURM cluster answers ($SLURM_CONF, or scripts/local_slurm.sh start)"
    if conf is None:
        why += "; " + start_local()
        conf = find_cluster()
    if conf is None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    os.environ["SLURM_CONF"] = str(conf)
    return conf


def submit(script_path: str | os.PathLike, cwd: str | os.PathLike, *sbatch_args: str) -> str:
    """``sbatch --parsable``: the job id (an array's master id, e.g. "12")."""
    result = _slurm("sbatch", "--parsable", *sbatch_args, str(script_path), cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"sbatch {script_path} failed: {result.stderr.strip()}")
    return result.stdout.strip().split(";")[0]


def job_states(job: str) -> dict[str, str]:
    """Every task of ``job`` (a job id, an array's id, or an array task "12_1") → its state.

    Keys are job ids, or "ARRAYID_TASK" for array tasks ("12_[1-2]" for tasks not yet started).
    ``{job: "GONE"}`` when slurmctld does not know the job (any more).
    """
    result = _slurm("scontrol", "show", "job", "-o", str(job))
    if result.returncode != 0:
        if "Invalid job id" in result.stderr:
            return {str(job): GONE}
        raise RuntimeError(f"scontrol show job {job} failed: {result.stderr.strip()}")
    states = {}
    for line in result.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobState" not in fields:
            continue
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
            task = fields["ArrayTaskId"]
            key = f"{fields['ArrayJobId']}_{task if task.isdigit() else '[' + task + ']'}"
        else:
            key = fields["JobId"]
        states[key] = fields["JobState"]
    return states or {str(job): GONE}


def job_state(job: str) -> str:
    """The state of one job or array task ("12_1"): PENDING, RUNNING, COMPLETED, FAILED, ... or GONE.

    For a whole array, the first still-active state of its tasks, else the first final one.
    """
    states = list(job_states(job).values())
    return next((state for state in states if state in ACTIVE_STATES), states[0])


def wait_for(job: str, timeout: float, poll: float = 0.5) -> dict[str, str]:
    """Wait until every task of ``job`` has left the active states; their final states."""
    deadline = time.monotonic() + timeout
    while True:
        states = job_states(job)
        if not any(state in ACTIVE_STATES for state in states.values()):
            return states
        if time.monotonic() > deadline:
            queue = _slurm("squeue", "-a").stdout
            raise TimeoutError(f"job {job} still active after {timeout:.0f} s: {states}\n{queue}")
        time.sleep(poll)


def requeue(job: str) -> None:
    """``scontrol requeue``: SIGTERM (SIGKILL after KillWait) now, PENDING, and a start again."""
    result = _slurm("scontrol", "requeue", str(job))
    if result.returncode != 0:
        raise RuntimeError(f"scontrol requeue {job} failed: {result.stderr.strip()}")


def cancel(job: str) -> None:
    """``scancel`` (best effort, for clean-up)."""
    _slurm("scancel", str(job))

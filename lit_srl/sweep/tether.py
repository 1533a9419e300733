"""A process started by ``sweep run`` ends with its runner instead of running on unseen.

The runner puts its pid in ``LIT_SRL_RUNNER_PID`` of each child (fit or baseline ``eval``); the
child, first thing at start, asks the kernel for SIGTERM when the thread that started it dies
(Linux ``prctl(PR_SET_PDEATHSIG)``). A fit takes SIGTERM as a pre-emption: it finishes its current
step, saves ``last.ckpt`` and exits (:class:`lit_srl.callbacks.LastCheckpoint`), and rerunning the
sweep resumes it. So a runner that is SIGKILLed, or dies with its ssh session, leaves no fit
holding a GPU with nobody to report it (a runner still alive turns SIGHUP/SIGINT/SIGTERM into the
same SIGTERM to its fits itself).

Inside a SLURM job the runner does not set it: SLURM ends a job's processes with the job.
The variable is removed once read, so processes the child starts (DDP ranks) do not inherit it.
"""

from __future__ import annotations

import os
import signal
import sys

RUNNER_PID = "LIT_SRL_RUNNER_PID"
_PR_SET_PDEATHSIG = 1


def tethered_env(env: dict) -> dict:
    """``env`` with this process named as the runner its child must not outlive."""
    return {**env, RUNNER_PID: str(os.getpid())}


def tether_to_runner() -> None:
    """In a child of ``sweep run``: SIGTERM to this process when the runner dies (Linux only)."""
    runner = os.environ.pop(RUNNER_PID, None)
    if not runner or not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the run lock still keeps a rerun off this run
    if os.getppid() != int(runner):  # the runner died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)

"""The lock of a run folder: one fit at a time writes a run's checkpoints, logs and ``result.json``.

``fit --result PATH`` (every run of a sweep) holds an exclusive ``fcntl.flock`` on
``<trainer.default_root_dir>/.lock`` for its whole life, so the lock lives exactly as long as the
fit that writes the folder — not as long as whoever started it. A second fit on the folder stops
at once with one line and exit status :data:`BUSY_EXIT`; ``sweep run`` probes the lock before it
starts a run and reports the run *busy*. The kernel drops the lock when the holder dies (even by
SIGKILL), so a crashed fit never leaves a stale lock. The holder writes ``pid@host`` into the
file, for the message that names it.

Under DDP only the first process takes the lock (global rank 0: no ``RANK``/``LOCAL_RANK``/
``NODE_RANK``/``SLURM_PROCID`` other than 0), so the other ranks of the same fit are not refused.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import Optional

from lit_srl.errors import LitSrlError

LOCK_NAME = ".lock"
#: exit status of a fit refused because another process holds its run folder (EX_TEMPFAIL)
BUSY_EXIT = 75


class FolderBusy(LitSrlError):
    """Another process holds the lock of a folder this command was to write."""


class RunLock:
    """An exclusive (or shared), non-blocking ``flock`` on ``folder/name``; released when the
    holder closes it or dies."""

    def __init__(self, folder: Path, name: str = LOCK_NAME) -> None:
        self.path = Path(folder) / name
        self.file = None

    def acquire(self, shared: bool = False) -> bool:
        """Take the lock if no other holder conflicts; True if taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            self.file = None
            return False
        return True

    def mark_holder(self, text: Optional[str] = None) -> None:
        """Write who holds the lock into its file: ``text``, by default ``pid@host`` of this process."""
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"{text or f'{os.getpid()}@{socket.gethostname()}'}\n")
        self.file.flush()

    def holder(self) -> str:
        """Who holds the lock, as far as its file tells: ``pid N on HOST``, or what was written."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        pid, _, host = text.partition("@")
        if pid.isdigit():
            return f"pid {pid} on {host}"
        return text or "another process"

    def probe(self) -> bool:
        """Whether the lock is free now (taken and released at once)."""
        if not self.acquire():
            return False
        self.release()
        return True

    def release(self) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


def first_process() -> bool:
    """Whether this process is global rank 0 of its job (or the only one)."""
    return all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def hold_run_folder(folder: Path) -> Optional[RunLock]:
    """Lock ``folder`` for this fit (rank 0 only; None elsewhere); :class:`FolderBusy` if held."""
    if not first_process():
        return None
    lock = RunLock(Path(folder))
    if not lock.acquire():
        raise FolderBusy(
            f"run folder {folder} is in use by another fit ({lock.holder()}, lock {lock.path}); "
            "wait for it to end, or stop that process"
        )
    lock.mark_holder()
    return lock

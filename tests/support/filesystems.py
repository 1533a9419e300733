"""Another filesystem for fault tests: a small tmpfs mounted by the test where it may (root), so that
a run folder can sit on a different filesystem from ``$TMPDIR`` (as NFS/Lustre and a node-local
``$TMPDIR`` on a cluster) or on a disk that fills up."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator, Optional


@contextlib.contextmanager
def small_tmpfs(folder: Path, megabytes: int) -> Iterator[Optional[Path]]:
    """Mount a ``megabytes`` MB tmpfs on ``folder`` for the ``with`` block; yields None where the
    mount is not allowed (not root, no mount(8), a container without CAP_SYS_ADMIN)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        yield None
        return
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
                                 capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        mounted = False
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def same_filesystem(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev

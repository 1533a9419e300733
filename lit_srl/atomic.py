"""Atomic writes: a file that a later run trusts is either the previous version or the new one, whole.

Checkpoints, ``result.json``, ``plan.json``, a run's ``config.yaml`` and an export's JSON files are
written to a temporary file in the target's own folder (``.<name>.<8 hex>.tmp``), flushed and
fsynced, renamed over the target with ``os.replace`` (atomic within one filesystem), and the folder
is fsynced so the rename itself survives a power cut. A SIGKILL at any moment leaves the previous
file in place. (A temporary file in ``$TMPDIR``, as fsspec's local writes use, does not do: on a
cluster ``$TMPDIR`` is node-local while the run folder is on NFS or Lustre, and the final move is
then a copy over the target — a kill during it leaves a truncated or empty file.)

The new file gets mode ``0o666`` minus the user's umask, as ``open`` gives (``tempfile.mkstemp``
would give 0600, unreadable to teammates on a shared filesystem).

A full disk (ENOSPC, or EDQUOT for a quota) is one :class:`~lit_srl.errors.LitSrlError` line naming
the folder, the space the file needs and the space free; the temporary file is removed and the
previous file is untouched. Temporary files left by an interrupted write are found with
:func:`leftovers` and removed with :func:`remove_leftovers` (the writer of a file calls it before
writing, and a resumed run for its checkpoint folder).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

from lit_srl.errors import LitSrlError

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.<8 hex>.tmp`` (hidden, one per writer)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def leftovers(folder: Union[str, Path], name: Optional[str] = None) -> list[Path]:
    """Temporary files of interrupted atomic writes in ``folder`` (of the target ``name`` only, if given)."""
    folder = Path(folder)
    pattern = f".{glob.escape(name)}.*.tmp" if name else ".*.tmp"
    found = [p for p in folder.glob(pattern) if _LEFTOVER.match(p.name)]
    return [p for p in found if name is None or _LEFTOVER.match(p.name).group("name") == name]


def remove_leftovers(folder: Union[str, Path], name: Optional[str] = None) -> list[Path]:
    """Delete :func:`leftovers` of ``folder`` (the caller owns the folder: no write is in progress)."""
    removed = []
    for path in leftovers(folder, name):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where the filesystem cannot sync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # EINVAL/EBADF on some network filesystems: the rename is still atomic
        pass
    finally:
        os.close(fd)


def disk_full_cause(exc: Optional[BaseException]) -> Optional[OSError]:
    """The ENOSPC/EDQUOT error behind ``exc`` (raised directly or as the cause or context of another:
    torch.save's zip writer turns the OSError of a failed write into a RuntimeError), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full_line(exc: BaseException) -> Optional[str]:
    """One line for a full disk met by any other writer (TensorBoard, Lightning's config.yaml), else None."""
    cause = disk_full_cause(exc)
    if cause is None:
        return None
    where = f" writing {cause.filename}" if cause.filename else ""
    return f"no space left on the disk{where} ({cause.strerror}); free space there and rerun (a fit resumes with --ckpt_path last)"


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""  # pragma: no cover


def disk_full_error(path: Path, needed: int) -> LitSrlError:
    """The one line for a full disk while writing ``path`` (``needed`` bytes)."""
    free = shutil.disk_usage(path.parent).free
    kept = f"; the previous {path.name} is unchanged" if path.exists() else ""
    return LitSrlError(
        f"no space left in {path.parent} to write {path.name}: it needs about {_size(needed)} free and "
        f"{_size(free)} are free; free at least {_size(max(needed - free, 1))} there and rerun{kept}"
    )


@contextlib.contextmanager
def atomic_open(path: Union[str, Path], needed: int = 0) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` atomically when the ``with`` block ends normally.

    If the block raises (or the process dies) ``path`` is untouched and the temporary file is
    removed (or left as a leftover, see :func:`remove_leftovers`). ``needed``: the expected size in
    bytes, for the full-disk message (else the bytes written before the disk filled up).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    written = 0
    try:
        # os.open applies the umask to 0o666, like open(); O_EXCL: never someone else's file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            try:
                yield f
                f.flush()
                os.fsync(f.fileno())
            finally:
                with contextlib.suppress(OSError, ValueError):
                    written = f.tell()
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if disk_full_cause(exc) is not None:
            raise disk_full_error(path, max(needed, written)) from exc
        raise
    fsync_folder(path.parent)


def write_bytes_atomic(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, needed=len(data)) as f:
        f.write(data)


def write_text_atomic(path: Union[str, Path], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically. Several writers of one file may race (SLURM array
    tasks of one sweep write the same plan files): each has its own temporary file, the last rename wins."""
    write_bytes_atomic(path, text.encode("utf-8"))

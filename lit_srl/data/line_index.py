"""The line index of a corpus: the byte offset of every usable line, 8 bytes a line, cached on disk.

It gives random access to the sentences of a plain-text corpus, so that an epoch can visit them in
an exact permutation while still streaming from disk (:mod:`lit_srl.data.order`). A usable line is
one the stream yields (:func:`lit_srl.data.lines.iter_lines`: not blank once decoded and
stripped), so the index counts exactly the sentences of the stream.

The cache file of ``corpus.txt`` holds an 80-byte header (magic, format version, the corpus file's
size and mtime, ``max_chars``, the line count, the corpus statistics and a CRC-32 of the offsets)
and then the offsets as little-endian uint64. It is used only while the corpus file keeps that size
and mtime and the CRC matches; anything else (a changed corpus, a truncated or corrupt cache) is
rebuilt, never trusted. Where it lives (:func:`index_candidates`): in ``index_dir`` when one is
given; otherwise beside the corpus (``corpus.txt.lit_srl.idx``) when that folder is writable or
already holds a valid index, else in the user cache ``$XDG_CACHE_HOME/lit_srl/line_index`` (default
``~/.cache``), named by a hash of the corpus's absolute path. Writes are atomic (a temporary file in
the same folder, fsync, ``os.replace``) and serialised by an advisory lock, so ranks or tasks that
start together build it once and never read a half-written one.

gzip corpora are refused: they cannot be read at an offset without decompressing from the start.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import struct
import zlib
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from lit_srl.atomic import atomic_open
from lit_srl.data.lines import MAX_CHARS, CorpusStats, iter_lines
from lit_srl.errors import LitSrlError

log = logging.getLogger("lit_srl")

MAGIC, VERSION = b"LSRLIDX\0", 1
#: magic, version, max_chars, corpus size, corpus mtime_ns, lines, empty, undecodable, truncated, crc32
HEADER = struct.Struct("<8sIIQqQQQQI12x")
HEADER_BYTES = HEADER.size  # 80: the offsets start 8-byte aligned
SUFFIX = ".lit_srl.idx"
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


@dataclass(frozen=True)
class LineIndex:
    """The validated index of one corpus file: ``count`` usable lines, their offsets in ``path``."""

    corpus: Path
    path: Path  # the cache file
    count: int
    stats: CorpusStats

    def offsets(self) -> np.ndarray:
        """The ``count`` offsets (uint64), memory-mapped: processes share the page cache."""
        if self.count == 0:
            return np.zeros(0, dtype="<u8")
        return np.memmap(self.path, dtype="<u8", mode="r", offset=HEADER_BYTES, shape=(self.count,))


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lit_srl/line_index`` (default ``~/.cache/lit_srl/line_index``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lit_srl" / "line_index"


def index_candidates(corpus: Path, index_dir: Optional[str | Path] = None) -> list[Path]:
    """Where the index of ``corpus`` may live, in the order tried (see the module docstring)."""
    corpus = Path(os.path.abspath(corpus))
    keyed = f"{corpus.name}-{hashlib.sha256(str(corpus).encode()).hexdigest()[:16]}{SUFFIX}"
    if index_dir is not None:
        return [Path(os.path.expanduser(str(index_dir))) / keyed]
    return [corpus.with_name(corpus.name + SUFFIX), user_cache_dir() / keyed]


def load_or_build(corpus: Path, max_chars: int = MAX_CHARS, index_dir: Optional[str | Path] = None) -> LineIndex:
    """The index of ``corpus``: a valid cached one, else built once and cached (see the module docstring)."""
    corpus = Path(os.path.abspath(corpus))
    if corpus.suffix == ".gz":
        raise LitSrlError(
            f"corpus file {corpus} is gzip-compressed and the permutation order needs random access; "
            f"decompress it (gunzip -k {corpus}) or set data.order=buffer"
        )
    candidates = index_candidates(corpus, index_dir)
    for path in candidates:
        found = _load(path, corpus, max_chars)
        if found is not None:
            return found
    last_error: OSError | None = None
    for path in candidates:
        if not _writable(path.parent):
            continue
        try:
            return _build_locked(path, corpus, max_chars)
        except OSError as e:
            if e.errno not in _READ_ONLY and not isinstance(e, PermissionError):
                raise LitSrlError(f"cannot write the line index {path} of {corpus} ({e.strerror}); "
                                  "set data.index_dir to a writable folder") from e
            last_error = e
    raise LitSrlError(
        f"no writable folder for the line index of {corpus} (tried {', '.join(str(p.parent) for p in candidates)}: "
        f"{last_error.strerror if last_error else 'not writable'}); set data.index_dir to a writable folder"
    )


def _writable(folder: Path) -> bool:
    """Whether to write into ``folder``: it may be created, or it allows us to write and is not
    marked read-only for everyone (mode without any w bit: kept read-only even for root)."""
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _signature(corpus: Path) -> tuple[int, int]:
    st = corpus.stat()
    return st.st_size, st.st_mtime_ns


def _load(path: Path, corpus: Path, max_chars: int) -> Optional[LineIndex]:
    """The index stored at ``path`` if it is complete, intact and of this very corpus file; else None."""
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER_BYTES)
            if len(header) < HEADER_BYTES:
                return None
            magic, version, chars, size, mtime, count, empty, bad, cut, crc = HEADER.unpack(header)
            if (magic, version, chars, (size, mtime)) != (MAGIC, VERSION, max_chars, _signature(corpus)):
                return None
            if os.fstat(f.fileno()).st_size != HEADER_BYTES + 8 * count or _crc_of(f) != crc:
                return None
    except (OSError, struct.error):
        return None
    stats = CorpusStats(files=1, sentences=count, empty=empty, undecodable=bad, truncated=cut)
    return LineIndex(corpus, path, count, stats)


def _crc_of(f, block: int = 1 << 22) -> int:
    crc = 0
    while chunk := f.read(block):
        crc = zlib.crc32(chunk, crc)
    return crc


@contextlib.contextmanager
def _lock(path: Path):
    """An advisory exclusive lock on ``path`` (best effort: filesystems without locks build twice)."""
    try:
        import fcntl

        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    except (ImportError, OSError) as e:
        if isinstance(e, OSError) and (e.errno in _READ_ONLY):
            raise
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build_locked(path: Path, corpus: Path, max_chars: int) -> LineIndex:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    with _lock(lock):
        found = _load(path, corpus, max_chars)  # another rank or task may have built it meanwhile
        if found is None:
            found = _build(path, corpus, max_chars)
        with contextlib.suppress(OSError):
            lock.unlink()  # after the index is in place, so a later comer finds it valid
    return found


def _build(path: Path, corpus: Path, max_chars: int, chunk: int = 1 << 16) -> LineIndex:
    """One pass over ``corpus``: write its index to ``path`` atomically; the index.

    Offsets go to the temporary file ``chunk`` at a time (constant memory whatever the corpus);
    the header, written last, makes the file valid only once it is complete.
    """
    signature = _signature(corpus)
    stats, crc = CorpusStats(files=1), 0
    with atomic_open(path) as out, open(corpus, "rb") as f:
        out.write(bytes(HEADER_BYTES))
        offsets = array("Q")
        for line in iter_lines(f, max_chars):
            if stats.add(line):
                offsets.append(line.offset)
                if len(offsets) == chunk:
                    crc = _write_offsets(out, offsets, crc)
                    offsets = array("Q")
        crc = _write_offsets(out, offsets, crc)
        if signature != _signature(corpus):
            raise LitSrlError(f"corpus file {corpus} changed while its line index was built; "
                              "run again once it is written")
        out.seek(0)
        out.write(HEADER.pack(MAGIC, VERSION, max_chars, *signature, stats.sentences, stats.empty,
                              stats.undecodable, stats.truncated, crc))
    log.info("line index of %s: %s lines, %.1f MiB, in %s", corpus, f"{stats.sentences:,}",
             (HEADER_BYTES + 8 * stats.sentences) / 2**20, path)
    return LineIndex(corpus, path, stats.sentences, stats)


def _write_offsets(out, offsets: array, crc: int) -> int:
    if not np.little_endian:
        offsets.byteswap()
    payload = offsets.tobytes()
    out.write(payload)
    return zlib.crc32(payload, crc)


def read_line_at(f, offset: int, max_chars: int = MAX_CHARS) -> str:
    """The sentence (as the stream yields it) of the usable line starting at byte ``offset`` of ``f``."""
    f.seek(int(offset))
    return next(iter_lines(f, max_chars)).text


class CorpusIndex:
    """The line indexes of a corpus's files, numbered as one: line ``i`` of the corpus is the
    ``i``-th usable line of the files in order. Reads sentences by number (:meth:`read`).

    Picklable for DataLoader workers: offsets and file handles are opened again in each process.
    """

    def __init__(self, files: list[Path], max_chars: int = MAX_CHARS, index_dir: Optional[str | Path] = None) -> None:
        self.max_chars = max_chars
        self.indexes = [load_or_build(Path(f), max_chars, index_dir) for f in files]
        self.starts = np.cumsum([0] + [ix.count for ix in self.indexes], dtype=np.int64)
        self._offsets: Optional[list[np.ndarray]] = None
        self._handles: dict[int, object] = {}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def stats(self) -> dict[str, int]:
        """The corpus statistics of :func:`lit_srl.data.corpus.corpus_stats`, from the indexes."""
        total = CorpusStats()
        for ix in self.indexes:
            for key, value in asdict(ix.stats).items():
                setattr(total, key, getattr(total, key) + value)
        return asdict(total)

    def nbytes(self) -> int:
        """Bytes of the cached index files (the offsets are mapped, not copied, into memory)."""
        return sum(HEADER_BYTES + 8 * ix.count for ix in self.indexes)

    def read(self, ids: np.ndarray) -> list[str]:
        """The sentences of corpus lines ``ids`` (any order), in that order; read in file order."""
        if self._offsets is None:
            self._offsets = [ix.offsets() for ix in self.indexes]
        ids = np.asarray(ids, dtype=np.int64)
        out: list[str] = [""] * len(ids)
        for k in np.argsort(ids, kind="stable"):
            i = int(ids[k])
            file = int(np.searchsorted(self.starts, i, side="right")) - 1
            out[k] = read_line_at(self._handle(file), self._offsets[file][i - self.starts[file]], self.max_chars)
        return out

    def _handle(self, file: int):
        if file not in self._handles:
            self._handles[file] = open(self.indexes[file].corpus, "rb")
        return self._handles[file]

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_offsets"], state["_handles"] = None, {}
        return state

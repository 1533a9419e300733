"""The unsupervised training corpus: text files with one sentence per line, streamed and sharded.

Files are plain text or gzip (``.gz``), read in binary and decoded line by line (undecodable bytes
become U+FFFD and are counted), stripped, with blank lines skipped and over-long lines cut to
``max_chars`` characters. Nothing ever holds a whole file in memory.

:class:`StreamingCorpus` is the training ``IterableDataset``. Lightning does not shard iterable
datasets, so it shards itself (see the class docstring for the rule): every rank yields the same
number of already tokenised batches and no sentence is seen twice in an epoch.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import os
import random
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from lit_srl.errors import LitSrlError

MAX_CHARS = 20_000
"""Default cap on a sentence's length in characters; longer lines are truncated (and counted)."""

_FIX = "set --data.data_dir or LIT_SRL_DATA, or run `make data` / `python -m lit_srl data download`"
_TENSOR_KEYS = ("input_ids", "attention_mask", "token_type_ids")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def resolve_train_files(patterns: list[str] | str, data_dir: str | Path) -> list[Path]:
    """Resolve paths or globs to a sorted, de-duplicated list of corpus files.

    Relative patterns are taken under ``data_dir`` (the data root), absolute ones as they are;
    ``~`` is expanded in both. A pattern that matches no file, or names a directory, raises a
    :class:`LitSrlError` naming the pattern, the path looked at and the fix.
    """
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    if not patterns:
        raise LitSrlError(f"no training files given; name one or more corpus files or globs ({_FIX})")
    root = Path(os.path.expanduser(str(data_dir)))
    found: set[Path] = set()
    for pattern in patterns:
        found.update(_resolve_one(str(pattern), root))
    return sorted(found)


def _resolve_one(pattern: str, root: Path) -> list[Path]:
    full = Path(os.path.expanduser(pattern))
    if not full.is_absolute():
        full = root / full
    full = Path(os.path.abspath(full))
    if glob.has_magic(str(full)):
        files = [Path(p) for p in glob.glob(str(full), recursive=True) if os.path.isfile(p)]
        if not files:
            raise LitSrlError(f"training corpus pattern {pattern!r} matches no file (looked for {full}); {_FIX}")
        return files
    if full.is_dir():
        raise LitSrlError(
            f"training corpus {pattern!r} is a directory ({full}); name the files inside it, e.g. {full}/*.txt"
        )
    if not full.is_file():
        raise LitSrlError(f"training corpus {pattern!r} not found (looked for {full}); {_FIX}")
    return [full]


def _open_binary(path: Path):
    """Open ``path`` for binary reading, transparently gunzipping ``.gz`` files."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


# --------------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------------
@dataclass
class CorpusStats:
    """Counters filled by :func:`iter_sentences` (one instance may span several calls)."""

    files: int = 0
    sentences: int = 0
    empty: int = 0
    undecodable: int = 0
    truncated: int = 0


def _read_line(f, limit: int) -> tuple[bytes, bool]:
    """Read one line of at most ``limit`` bytes; discard the rest of a longer line.

    Returns ``(chunk, overlong)``; ``chunk`` is ``b""`` only at end of file.
    """
    chunk = f.readline(limit)
    if len(chunk) < limit or chunk.endswith(b"\n"):
        return chunk, False
    rest = chunk
    while rest and not rest.endswith(b"\n"):  # skip the remainder in bounded pieces
        rest = f.readline(limit)
    return chunk, True


def _decode(chunk: bytes, complete: bool) -> tuple[str, bool]:
    """Decode UTF-8, replacing bad bytes; returns ``(text, had_bad_bytes)``.

    An incomplete chunk (a cut over-long line) may end inside a character: that tail is dropped
    rather than counted as undecodable.
    """
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(chunk, final=complete), False
    except UnicodeDecodeError:
        return codecs.getincrementaldecoder("utf-8")("replace").decode(chunk, final=complete), True


def _iter_file(path: Path, stats: CorpusStats, max_chars: int) -> Iterator[str]:
    try:
        with _open_binary(path) as f:
            while True:
                chunk, overlong = _read_line(f, 4 * max_chars)  # >= max_chars characters
                if not chunk:
                    return
                text, bad = _decode(chunk, complete=not overlong)
                text = text.strip()
                if not text:
                    stats.empty += 1
                    continue
                if overlong or len(text) > max_chars:
                    text = text[:max_chars]
                    stats.truncated += 1
                stats.undecodable += bad
                stats.sentences += 1
                yield text
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise LitSrlError(f"corpus file {path} is not a readable gzip file ({e}); re-download or re-compress it") from e


def iter_sentences(
    files: Iterable[str | Path], stats: CorpusStats | None = None, max_chars: int = MAX_CHARS
) -> Iterator[str]:
    """Yield the stripped, non-blank lines of ``files`` in order (plain text or ``.gz``).

    Reads in binary with a bounded ``readline`` so a huge single line costs at most
    ``4 * max_chars`` bytes; such lines are cut to ``max_chars`` characters. Undecodable bytes are
    replaced (U+FFFD). Blank lines are skipped. All three are counted in ``stats`` if given.
    """
    stats = stats if stats is not None else CorpusStats()
    for path in files:
        stats.files += 1
        yield from _iter_file(Path(path), stats, max_chars)


def check_corpus(files: Iterable[str | Path]) -> None:
    """Cheap pre-flight: every file exists and is readable, and the corpus has a non-blank line.

    Reads only up to the first non-blank line. Raises :class:`LitSrlError` otherwise.
    """
    files = [Path(f) for f in files]
    if not files:
        raise LitSrlError(f"no training files given; name one or more corpus files or globs ({_FIX})")
    for path in files:
        if not path.is_file():
            raise LitSrlError(f"corpus file {path} not found; {_FIX}")
        try:
            with _open_binary(path) as f:  # a bad gzip or a permission problem fails here, in the main process
                _probe_readable(f, path)
        except PermissionError as e:
            raise LitSrlError(f"corpus file {path} cannot be read ({e.strerror}); check its permissions") from e
    if _first_sentence(files) is None:
        names = ", ".join(str(p) for p in files)
        raise LitSrlError(
            f"corpus {names} has no non-empty lines; point --data.train_files at text with one sentence per line"
        )


def _probe_readable(f, path: Path) -> None:
    try:
        f.read(1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise LitSrlError(f"corpus file {path} is not a readable gzip file ({e}); re-download or re-compress it") from e


def _first_sentence(files: list[Path]) -> str | None:
    sentences = iter_sentences(files, max_chars=64)
    try:
        return next(sentences, None)
    finally:
        sentences.close()  # closes the open file now, not at garbage collection


def corpus_stats(files: Iterable[str | Path], max_chars: int = MAX_CHARS) -> dict[str, int]:
    """One full pass over ``files``: ``{"files", "sentences", "empty", "undecodable", "truncated"}``.

    Meant to be logged once at setup (see :func:`format_corpus_stats`); it reads everything, so make
    it optional for very large corpora.
    """
    stats = CorpusStats()
    for _ in iter_sentences(files, stats, max_chars):
        pass
    return asdict(stats)


def format_corpus_stats(stats: dict[str, int]) -> str:
    """A one-line summary, e.g. ``corpus: 11,914 lines in 1 file, 0 empty skipped, ...``."""
    files = stats["files"]
    return (
        f"corpus: {stats['sentences']:,} lines in {files} file{'s' if files != 1 else ''}, "
        f"{stats['empty']:,} empty skipped, {stats['undecodable']:,} with undecodable bytes, "
        f"{stats['truncated']:,} truncated"
    )


# --------------------------------------------------------------------------------------------
# Shuffling and sharding
# --------------------------------------------------------------------------------------------
def shuffled_stream(
    sentences: Iterable[str], buffer_size: int, seed: int, epoch: int
) -> Iterator[str]:
    """Bounded-buffer shuffle: deterministic in ``(seed, epoch)``, memory ``O(buffer_size)``.

    Fills a buffer, then for each new item emits a random buffered one and puts the new one in its
    place; the remainder is emitted in random order at the end.
    """
    rng = random.Random(f"lit_srl:{seed}:{epoch}")
    buffer: list[str] = []
    for s in sentences:
        if len(buffer) < buffer_size:
            buffer.append(s)
            continue
        j = rng.randrange(buffer_size)
        yield buffer[j]
        buffer[j] = s
    rng.shuffle(buffer)
    yield from buffer


def global_batches(stream: Iterable[str], size: int) -> Iterator[list[str]]:
    """Cut ``stream`` into consecutive lists of exactly ``size`` items; an incomplete tail is dropped."""
    batch: list[str] = []
    for s in stream:
        batch.append(s)
        if len(batch) == size:
            yield batch
            batch = []


class StreamingCorpus(IterableDataset):
    """Streams tokenised training batches from text files, sharded over ranks and workers.

    Use with ``DataLoader(dataset, batch_size=None, num_workers=k)``. Each item is a dict of
    tensors: ``input_ids`` and ``attention_mask`` (and ``token_type_ids`` if the tokenizer gives
    them) of shape ``(batch_size, T)`` with ``T = min(longest sentence in the batch, max_length)``
    (dynamic padding), and ``batch_index``, a scalar int64 tensor: the global batch index ``b`` in
    the epoch.

    Sharding rule. Every worker of every rank reads the same stream and applies the same
    bounded-buffer shuffle, seeded by ``(seed, epoch)``, then cuts it into *global batches* of
    ``batch_size * world_size`` sentences (an incomplete last one is dropped). Global batch ``b``
    gives rank ``r`` the slice ``[r * batch_size, (r + 1) * batch_size)``. Within a rank, DataLoader
    worker ``w`` of ``k`` handles the batches with ``(b - start) % k == w``, where ``start`` is the
    number of batches skipped on resume (0 normally); the DataLoader's round-robin over workers
    therefore yields ``b = start, start + 1, ...`` in order, the same sequence for any ``k``. Only a
    worker's own batches are tokenised. Every rank yields the same number of batches and no
    sentence appears twice in an epoch.

    Epochs and resume. Call :meth:`set_epoch` before each epoch (Lightning does not call it on a
    dataset). ``load_state_dict({"epoch": e, "batches_done": n})`` makes iterations of epoch ``e``
    skip its first ``n`` global batches (without tokenising them); :meth:`set_epoch` with another
    epoch drops the skip. The dataset cannot count consumed batches (workers iterate copies of
    it): the caller supplies ``batches_done``. Workers copy the dataset when a DataLoader iterator
    starts, so with ``persistent_workers=True`` later calls do not reach them.
    """

    def __init__(
        self,
        *,
        files: list[Path],
        tokenizer: Any,
        batch_size: int,
        max_length: int = 32,
        shuffle: bool = True,
        shuffle_buffer: int = 10_000,
        seed: int = 42,
        rank: int = 0,
        world_size: int = 1,
        max_chars: int = MAX_CHARS,
    ) -> None:
        super().__init__()
        _check_positive(batch_size=batch_size, max_length=max_length, shuffle_buffer=shuffle_buffer,
                        world_size=world_size, max_chars=max_chars)
        if not 0 <= rank < world_size:
            raise LitSrlError(f"rank {rank} is outside [0, world_size={world_size}); pass the trainer's global_rank")
        self.files = [Path(f) for f in files]
        self.tokenizer = tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self.shuffle, self.shuffle_buffer, self.seed = shuffle, shuffle_buffer, seed
        self.rank, self.world_size, self.max_chars = rank, world_size, max_chars
        self.epoch = 0
        #: batches this rank yields per epoch, when the DataModule has counted the corpus
        self.length: int | None = None
        self._resume: tuple[int, int] | None = None  # (epoch, batches_done)
        self._tok = None if isinstance(tokenizer, (str, Path)) else tokenizer

    # -- epoch and resume state ------------------------------------------------------------
    def __len__(self) -> int:
        """Batches per epoch on this rank (sentences // (batch_size × world_size)), once counted."""
        if self.length is None:
            raise TypeError("the corpus has not been counted; its length is unknown")
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (it seeds the shuffle); a pending resume skip for another epoch is dropped."""
        self.epoch = int(epoch)
        if self._resume is not None and self._resume[0] != self.epoch:
            self._resume = None

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches_done"}``: the epoch and the skip pending for it (0 if none)."""
        return {"epoch": self.epoch, "batches_done": self._start_batch()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume mid-epoch: the next iteration of ``state["epoch"]`` skips ``state["batches_done"]`` batches."""
        done = int(state.get("batches_done", 0))
        if done < 0:
            raise LitSrlError(f"corpus state batches_done={done} is negative; pass the number of batches consumed")
        self.epoch = int(state["epoch"])
        self._resume = (self.epoch, done)

    def _start_batch(self) -> int:
        return self._resume[1] if self._resume is not None and self._resume[0] == self.epoch else 0

    # -- iteration ---------------------------------------------------------------------------
    def sentence_stream(self) -> Iterator[str]:
        """This epoch's (shuffled) sentence stream, identical on every rank and worker."""
        sentences = iter_sentences(self.files, max_chars=self.max_chars)
        if not self.shuffle:
            return sentences
        return shuffled_stream(sentences, self.shuffle_buffer, self.seed, self.epoch)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        start = self._start_batch()
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        for b, batch in enumerate(global_batches(self.sentence_stream(), self.batch_size * self.world_size)):
            if b < start or (b - start) % num_workers != worker:
                continue
            yield self._encode(batch[lo:hi], b)

    def _encode(self, sentences: list[str], batch_index: int) -> dict[str, torch.Tensor]:
        enc = self._tokenizer()(
            sentences, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        out = {k: enc[k] for k in _TENSOR_KEYS if k in enc}
        out["batch_index"] = torch.tensor(batch_index, dtype=torch.long)
        return out

    def _tokenizer(self):
        if self._tok is None:  # a name or path: load lazily (in the worker)
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(str(self.tokenizer))
        return self._tok

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(self.tokenizer, (str, Path)):
            state["_tok"] = None  # reload in the worker rather than pickling it
        return state


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) < 1:
            raise LitSrlError(f"corpus {name}={value} must be a positive integer; fix the data config")

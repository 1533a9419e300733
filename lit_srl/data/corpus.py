"""The unsupervised training corpus: text files with one sentence per line, streamed and sharded.

Files are plain text or gzip (``.gz``), read line by line as :mod:`lit_srl.data.lines` defines a
usable line (UTF-8, stripped, blank lines skipped, over-long lines cut). Nothing ever holds a whole
file in memory. Checks up front: the files exist and have a sentence (:func:`check_corpus`), and
are mostly UTF-8 (:func:`check_decodable`).

:class:`StreamingCorpus` is the training ``IterableDataset``, in either epoch order of
:mod:`lit_srl.data.order`. Lightning does not shard iterable datasets, so it shards itself (see
the class docstring for the rule): every rank yields the same number of already tokenised batches
and no sentence is seen twice in an epoch.
"""

from __future__ import annotations

import glob
import gzip
import os
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from lit_srl.data.line_index import CorpusIndex
from lit_srl.data.lines import MAX_CHARS, CorpusStats, iter_lines
from lit_srl.data.order import (
    ORDERS,
    epoch_permutation,
    global_batches,
    index_batches,
    rank_share,
    shuffled_stream,
)
from lit_srl.errors import LitSrlError, check_choice

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
def _iter_file(path: Path, stats: CorpusStats, max_chars: int) -> Iterator[str]:
    try:
        with _open_binary(path) as f:
            for line in iter_lines(f, max_chars):
                if stats.add(line):
                    yield line.text
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


#: Shares of sentences with undecodable bytes (not UTF-8) above which training warns, and stops: a few
#: bad lines are noise; a majority means the file is not UTF-8 text (another encoding, or binary).
UNDECODABLE_WARN, UNDECODABLE_STOP = 0.01, 0.5


def check_decodable(stats: dict[str, int], files: Iterable[str | Path]) -> None:
    """Warn when over 1% of the sentences had undecodable bytes; raise a LitSrlError over 50%."""
    sentences, bad = stats["sentences"], stats["undecodable"]
    if not sentences or bad <= UNDECODABLE_WARN * sentences:
        return
    names = ", ".join(str(p) for p in files)
    share = f"{bad:,} of {sentences:,} lines ({bad / sentences:.1%}) of corpus {names} have bytes that are not UTF-8"
    if bad > UNDECODABLE_STOP * sentences:
        raise LitSrlError(f"{share}; convert it to UTF-8 text (e.g. iconv -f latin1 -t utf-8) or remove the binary data")
    warnings.warn(f"{share}; they train as U+FFFD. Convert the corpus to UTF-8 if that is not intended", stacklevel=2)


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
# The training dataset
# --------------------------------------------------------------------------------------------
class StreamingCorpus(IterableDataset):
    """Streams tokenised training batches from text files, sharded over ranks and workers.

    Use with ``DataLoader(dataset, batch_size=None, num_workers=k)``. Each item is a dict of
    tensors: ``input_ids`` and ``attention_mask`` (and ``token_type_ids`` if the tokenizer gives
    them) of shape ``(B, T)`` with ``T = min(longest sentence in the batch, max_length)`` (dynamic
    padding), and ``batch_index``, a scalar int64 tensor: the global batch index ``b`` in the epoch.

    Order (:mod:`lit_srl.data.order`). ``order="permutation"``: the epoch visits every usable line
    once in a permutation seeded by ``(seed, epoch)``, read at its offset through the cached line
    index (built on construction; ``index_dir`` overrides where it is cached). ``order="buffer"``:
    the file order through a shuffle buffer of ``shuffle_buffer`` lines. ``shuffle=False``: the
    file order.

    Sharding rule. Every worker of every rank computes the same epoch order and cuts it into
    *global batches* of ``batch_size * world_size`` sentences, so a global batch is the same set
    whatever the number of ranks. Global batch ``b`` gives rank ``r`` its ``r``-th contiguous
    ``1/world_size`` (``B = batch_size``). The incomplete last global batch is dropped, or with
    ``drop_last=False`` kept when it has at least 2 sentences, padded with the epoch's first
    sentences to a multiple of ``world_size`` (at most ``world_size - 1`` repeats, as HF's
    ``DistributedSampler`` pads): each rank then gets ``ceil(tail / world_size)`` sentences, so every
    rank yields the same number of batches. Within a rank, DataLoader worker ``w`` of ``k`` handles
    the batches with ``(b - start) % k == w``, where ``start`` is the number of batches skipped on
    resume (0 normally); the DataLoader's round-robin over workers therefore yields ``b = start,
    start + 1, ...`` in order, the same sequence for any ``k``. Only a worker's own batches are
    read (permutation) and tokenised. No sentence appears twice in an epoch (but a padded tail's).

    Epochs and resume. Call :meth:`set_epoch` before each epoch (Lightning does not call it on a
    dataset). ``load_state_dict({"epoch": e, "batches_done": n})`` makes iterations of epoch ``e``
    skip its first ``n`` global batches (without reading or tokenising them in the permutation
    order); :meth:`set_epoch` with another epoch drops the skip. The dataset cannot count consumed
    batches (workers iterate copies of it): the caller supplies ``batches_done``. Workers copy the
    dataset when a DataLoader iterator starts, so with ``persistent_workers=True`` later calls do
    not reach them.
    """

    def __init__(
        self,
        *,
        files: list[Path],
        tokenizer: Any,
        batch_size: int,
        max_length: int = 32,
        order: str = "permutation",
        shuffle: bool = True,
        shuffle_buffer: int = 10_000,
        seed: int = 42,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
        index_dir: str | Path | None = None,
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
        self.order = check_choice("data.order", order, ORDERS)
        self.shuffle, self.shuffle_buffer, self.seed = shuffle, shuffle_buffer, seed
        self.rank, self.world_size, self.max_chars = rank, world_size, max_chars
        self.drop_last = drop_last
        self.epoch = 0
        #: the line index of the permutation order (None for the buffer order)
        self.index = None
        if self.order == "permutation":
            self.index = CorpusIndex(self.files, max_chars, index_dir)
        #: batches this rank yields per epoch, when the DataModule has counted the corpus
        self.length: int | None = None
        self._resume: tuple[int, int] | None = None  # (epoch, batches_done)
        self._tok = None if isinstance(tokenizer, (str, Path)) else tokenizer

    # -- epoch and resume state ------------------------------------------------------------
    def __len__(self) -> int:
        """Batches per epoch on this rank (see :func:`lit_srl.data.order.batches_per_epoch`), once counted."""
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
    def _line_order(self):
        """The permutation order's line numbers for this epoch (the identity without shuffling)."""
        n = len(self.index)
        return epoch_permutation(n, self.seed, self.epoch) if self.shuffle else np.arange(n, dtype=np.int64)

    def _global_batches(self) -> Iterator:
        """This epoch's global batches: arrays of line numbers (permutation) or lists of sentences."""
        size = self.batch_size * self.world_size
        if self.index is not None:
            return index_batches(self._line_order(), size, self.world_size, not self.drop_last)
        return global_batches(self._buffered_stream(), size, self.world_size, not self.drop_last)

    def _buffered_stream(self) -> Iterator[str]:
        sentences = iter_sentences(self.files, max_chars=self.max_chars)
        if not self.shuffle:
            return sentences
        return shuffled_stream(sentences, self.shuffle_buffer, self.seed, self.epoch)

    def sentence_stream(self) -> Iterator[str]:
        """This epoch's sentence stream, identical on every rank and worker (reads the whole epoch)."""
        if self.index is None:
            yield from self._buffered_stream()
            return
        order = self._line_order()
        for lo in range(0, len(order), 4096):
            yield from self.index.read(order[lo:lo + 4096])

    def _texts(self, part) -> list[str]:
        return self.index.read(part) if self.index is not None else list(part)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        start = self._start_batch()
        try:
            for b, batch in enumerate(self._global_batches()):
                if b < start or (b - start) % num_workers != worker:
                    continue
                yield self._encode(self._texts(rank_share(batch, self.rank, self.world_size)), b)
        finally:
            if self.index is not None:
                self.index.close()

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

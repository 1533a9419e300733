"""The order of an epoch's sentences and how it is cut into global batches.

Two orders (``data.order``):

- ``permutation`` (the default): an exact, seeded permutation of the whole corpus each epoch, as the
  Hugging Face Trainer's ``RandomSampler`` gives SimCSE and the paper's released code. Sentences
  are read at their offsets through the cached line index (:mod:`lit_srl.data.line_index`), so
  the corpus still streams from disk. Memory: the index is memory-mapped (8 bytes a line, shared
  page cache) and each loader process holds the epoch's permutation (8 bytes a line).
- ``buffer``: the file order shuffled through a bounded buffer (:func:`shuffled_stream`), memory
  ``O(buffer)`` whatever the corpus size; for corpora whose index or permutation would not fit.
  Neighbouring lines of the file stay close: with 10,000 lines on wiki1m, a batch of 128 holds
  about 31 pairs of sentences within 40 lines of each other (a permutation: about 0.7).

Both are deterministic in ``(seed, epoch)`` on every machine, rank and worker.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch

ORDERS = ("permutation", "buffer")
#: An incomplete last global batch is kept only with at least this many sentences (one sentence
#: has no in-batch negative, and per-batch statistics such as a variance need two).
MIN_LAST_BATCH = 2

T = TypeVar("T")


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed mixing ``seed`` and ``epoch`` (SHA-256, so the same on every machine)."""
    digest = hashlib.sha256(f"lit_srl:{int(seed)}:{int(epoch)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's order of lines ``0 … n-1``: ``torch.randperm`` under :func:`epoch_seed` (int64)."""
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=generator).numpy()


def shuffled_stream(sentences: Iterable[T], buffer_size: int, seed: int, epoch: int) -> Iterator[T]:
    """Bounded-buffer shuffle: deterministic in ``(seed, epoch)``, memory ``O(buffer_size)``.

    Fills a buffer, then for each new item emits a random buffered one and puts the new one in its
    place; the remainder is emitted in random order at the end.
    """
    rng = random.Random(f"lit_srl:{seed}:{epoch}")
    buffer: list[T] = []
    for s in sentences:
        if len(buffer) < buffer_size:
            buffer.append(s)
            continue
        j = rng.randrange(buffer_size)
        yield buffer[j]
        buffer[j] = s
    rng.shuffle(buffer)
    yield from buffer


def batches_per_epoch(sentences: int, size: int, keep_last: bool = False) -> int:
    """Global batches of ``size`` cut from ``sentences``: ``⌊n/size⌋``, plus one for a kept tail."""
    full, tail = divmod(int(sentences), int(size))
    return full + int(keep_last and tail >= MIN_LAST_BATCH)


def _last_batch(tail: list[T] | np.ndarray, head: Sequence[T], world: int):
    """The kept tail, padded with the epoch's first items to a multiple of ``world`` (≤ world−1 repeats)."""
    pad = -len(tail) % world
    if isinstance(tail, np.ndarray):
        return np.concatenate([tail, np.asarray(head[:pad], dtype=tail.dtype)])
    return list(tail) + list(head[:pad])


def global_batches(stream: Iterable[T], size: int, world: int = 1, keep_last: bool = False) -> Iterator[list[T]]:
    """Cut ``stream`` into consecutive lists of exactly ``size`` items.

    The incomplete tail is dropped, or with ``keep_last`` yielded when it holds at least
    :data:`MIN_LAST_BATCH` items, padded with the stream's first items to a multiple of ``world`` so
    that every rank gets an equal share (HF's ``DistributedSampler`` pads the same way).
    """
    head: list[T] = []
    batch: list[T] = []
    for s in stream:
        if len(head) < world:
            head.append(s)
        batch.append(s)
        if len(batch) == size:
            yield batch
            batch = []
    if keep_last and len(batch) >= MIN_LAST_BATCH:
        yield _last_batch(batch, head, world)


def index_batches(order: np.ndarray, size: int, world: int = 1, keep_last: bool = False) -> Iterator[np.ndarray]:
    """:func:`global_batches` of an index array, as views (nothing is copied but a kept tail)."""
    full = len(order) // size
    for b in range(full):
        yield order[b * size:(b + 1) * size]
    tail = order[full * size:]
    if keep_last and len(tail) >= MIN_LAST_BATCH:
        yield _last_batch(tail, order, world)


def rank_share(batch: Sequence[T], rank: int, world: int) -> Sequence[T]:
    """Rank ``rank``'s contiguous ``1/world`` of a global batch."""
    share = len(batch) // world
    return batch[rank * share:(rank + 1) * share]

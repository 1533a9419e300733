"""The one way lit_srl embeds sentences for evaluation: token-count-sorted batches, sharded by rank.

Used by ``eval`` (:func:`encode_sentences`), :meth:`SentenceEncoder.encode`, the in-training
validation and test loops (:class:`SentenceShard` + :func:`gather_shards`) and, through them, the
sweep's test step and the transfer tasks.

Why sort by tokens: a batch is padded to its longest member, so batches of near-equal token counts
waste little. On the seven STS test sets (26,289 unique sentences, bert-base-uncased vocabulary,
batch 128), sorting by token count leaves 1.9% of the batch positions padding, sorting by
characters 31%; on STS-B dev (2,909 sentences) 7.4% against 31%.

Why it keeps a GPU busy: the sentences are tokenised once, in one call of the fast tokenizer
(:class:`TokenisedSentences`; a validation every N steps reuses its shard's tokens), a background
thread pads the next batch while the device runs this one (:func:`prefetched`), page-locked so
that the copy to the GPU does not block, and ``encode_sentences`` keeps the embeddings on the
device until one copy at the end. None of it changes a number: the batches are the tokenizer's
own padded batches, bit for bit.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

import numpy as np
import torch
from torch.utils.data import IterableDataset

from lit_srl.errors import check_choice

T = TypeVar("T")
PRECISIONS = ("32", "bf16")
#: SentEval does not truncate; BERT-style encoders stop at 512 positions.
DEFAULT_MAX_LENGTH = 512


def truncation_length(tokenizer, max_length: Optional[int] = None) -> int:
    """``max_length``, else the tokenizer's limit capped at 512."""
    return int(max_length or min(int(tokenizer.model_max_length), DEFAULT_MAX_LENGTH))


def shard(n: int, rank: int, world_size: int) -> range:
    """Rank ``rank``'s contiguous block of ``range(n)``: disjoint, covering, sizes differ by ≤ 1.

    ``[shard(n, r, w) for r in range(w)]`` concatenated is ``range(n)``.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    return range(rank * n // world_size, (rank + 1) * n // world_size)


def token_counts(tokenizer, sentences: Sequence[str], max_length: Optional[int] = None) -> np.ndarray:
    """Tokens per sentence (special tokens included, truncated as the batches are), (n,) int64."""
    return TokenisedSentences(tokenizer, sentences, max_length).counts


def autocast_context(precision: str, device: torch.device):
    """``torch.autocast`` in bf16 for ``precision="bf16"``; a no-op for ``"32"``."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def pad_values(tokenizer) -> dict[str, Optional[int]]:
    """The value a padded position gets, per tokenizer output (as transformers' own padding)."""
    return {
        "input_ids": tokenizer.pad_token_id,
        "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0),
        "attention_mask": 0,
        "special_tokens_mask": 1,
    }


class TokenisedSentences:
    """Sentences tokenised once — one batch call of the (fast) tokenizer — and padded per batch.

    Holds each of the tokenizer's outputs (``input_ids``, ``token_type_ids``, ``attention_mask``,
    …) as one flat int64 array with row offsets, so a later batch costs a padding copy, not a
    tokenizer call, and a validation that runs every N steps tokenises its sentences only once.
    :meth:`batch` gives exactly what ``tokenizer(texts, padding=True, truncation=True,
    max_length=L, return_tensors="pt")`` gives for those rows (pad values and side as the
    tokenizer's own padding).
    """

    def __init__(self, tokenizer, sentences: Sequence[str], max_length: Optional[int] = None) -> None:
        self.padding_side = getattr(tokenizer, "padding_side", "right")
        self.pad_values = pad_values(tokenizer)
        self.flat: dict[str, np.ndarray] = {}
        if self.pad_values["input_ids"] is None:
            raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token to batch sentences")
        n = len(sentences)
        if n == 0:
            self.counts = np.zeros(0, dtype=np.int64)
            self.offsets = np.zeros(1, dtype=np.int64)
            return
        encoded = tokenizer(
            list(sentences), truncation=True, max_length=truncation_length(tokenizer, max_length)
        )
        ids = encoded["input_ids"]
        self.counts = np.fromiter(map(len, ids), dtype=np.int64, count=n)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        total = int(self.offsets[-1])
        for key, rows in encoded.items():
            self.flat[key] = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=total)

    def __len__(self) -> int:
        return len(self.counts)

    def longest_first(self) -> np.ndarray:
        """Row order by token count, longest first (stable: equal inputs give equal batches)."""
        return np.argsort(-self.counts, kind="stable")

    def batch(self, rows: np.ndarray, pin_memory: bool = False) -> dict[str, torch.Tensor]:
        """Rows ``rows`` padded to their longest: {output: (B, T) int64}, page-locked if ``pin_memory``."""
        lengths = self.counts[rows]
        width = int(lengths.max()) if len(rows) else 0
        out = {}
        for key, flat in self.flat.items():
            padded = np.full((len(rows), width), self.pad_values.get(key, 0), dtype=np.int64)
            for r, (row, length) in enumerate(zip(rows, lengths)):
                values = flat[self.offsets[row] : self.offsets[row] + length]
                if self.padding_side == "left":
                    padded[r, width - length :] = values
                else:
                    padded[r, :length] = values
            tensor = torch.from_numpy(padded)
            out[key] = tensor.pin_memory() if pin_memory else tensor
        return out

    def batches(self, batch_size: int, pin_memory: bool = False) -> Iterator[tuple[np.ndarray, dict]]:
        """``(rows, batch)`` of ``batch_size`` rows each, longest first; ``rows`` (B,) are positions here."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        order = self.longest_first()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            yield rows, self.batch(rows, pin_memory)


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """``items`` as they come, produced by a background thread up to ``depth`` ahead.

    The next batch is padded (and page-locked) while the device runs this one. An exception of
    the producer is raised here; closing this generator early stops the thread.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failure(error))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="lit_srl-encode-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def sentence_batches(
    tokenizer,
    sentences: Sequence[str],
    batch_size: int,
    max_length: Optional[int] = None,
    indices: Optional[Sequence[int]] = None,
) -> Iterator[tuple[torch.Tensor, dict]]:
    """Tokenised batches of ``sentences`` (or of the rows ``indices``), longest first.

    Yields ``(index, batch)``: ``index`` (B,) int64 positions in ``sentences``; ``batch`` the
    tokenizer's tensors (``input_ids``, ``attention_mask``, …; (B, T), padded to the batch's
    longest). Sorted by token count (stable), so equal inputs give equal batches everywhere.
    The sentences are tokenised once, up front (:class:`TokenisedSentences`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    rows = np.arange(len(sentences)) if indices is None else np.asarray(list(indices), dtype=np.int64)
    tokens = TokenisedSentences(tokenizer, [sentences[i] for i in rows], max_length)
    for positions, batch in tokens.batches(batch_size):
        yield torch.from_numpy(rows[positions]), batch


@torch.inference_mode()
def encode_sentences(
    encoder,
    sentences: Sequence[str],
    batch_size: int = 128,
    device: Optional[torch.device | str] = None,
    max_length: Optional[int] = None,
    precision: str = "32",
    indices: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Embed ``sentences`` (or the rows ``indices``) with a :class:`SentenceEncoder`: (n, H) float32, CPU.

    Row k of the result embeds ``sentences[k]`` (``sentences[indices[k]]`` with ``indices``).
    Eval mode (dropout off, the head only if ``head_at_eval``); the encoder's training mode is
    restored afterwards. ``device`` defaults to the encoder's (the encoder is moved there if it
    is elsewhere). ``precision="bf16"`` runs the encoder under bf16 autocast; the embeddings come
    back in float32.

    The sentences are tokenised once (:class:`TokenisedSentences`); a background thread pads the
    next batch — page-locked on a GPU, copied without blocking — while the device runs this one,
    and the embeddings stay on the device until one copy at the end (no host sync per batch).
    """
    check_choice("precision", precision, PRECISIONS)
    current = next(encoder.parameters()).device
    device = current if device is None else torch.device(device)
    if device != current:
        encoder.to(device)
    texts = sentences if indices is None else [sentences[i] for i in indices]
    tokens = TokenisedSentences(encoder.tokenizer, texts, max_length)
    positions, parts = [], []
    was_training = encoder.training
    encoder.eval()
    try:
        with autocast_context(precision, device):
            for rows, batch in prefetched(tokens.batches(batch_size, pin_memory=device.type == "cuda")):
                parts.append(encoder(**{k: v.to(device, non_blocking=True) for k, v in batch.items()}).float())
                positions.append(rows)
    finally:
        encoder.train(was_training)
    out = torch.empty(len(texts), encoder.hidden_size, dtype=torch.float32)
    if parts:
        out[torch.from_numpy(np.concatenate(positions))] = torch.cat(parts).cpu()
    return out


class SentenceShard(IterableDataset):
    """This rank's disjoint :func:`shard` of ``sentences`` as :func:`sentence_batches` (for Lightning).

    Yields the tokenised batch with an extra ``index`` (B,) — positions in ``sentences``. An
    IterableDataset, so Lightning injects no DistributedSampler (which would pad by repeating
    sentences and count pairs twice). ``evaluator`` is whatever scores the gathered embeddings
    (an :class:`STSEvaluator`); the module reads it from its dataloader.

    The shard is tokenised at its first iteration and kept (a validation every N steps pads, it
    does not tokenise again); a background thread prepares the next batch while the device runs
    this one, page-locked when ``pin_memory`` (default: when CUDA is available, as the training
    loader) so that Lightning's non-blocking copy to the GPU does not wait.
    """

    def __init__(
        self,
        sentences: Sequence[str],
        tokenizer,
        batch_size: int,
        max_length: Optional[int],
        rank: int = 0,
        world_size: int = 1,
        evaluator=None,
        pin_memory: Optional[bool] = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.sentences = sentences
        self.rows = shard(len(sentences), rank, world_size)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.evaluator = evaluator
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self._tokens: Optional[TokenisedSentences] = None

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def tokens(self) -> TokenisedSentences:
        """This shard's sentences, tokenised once."""
        if self._tokens is None:
            self._tokens = TokenisedSentences(self.tokenizer, [self.sentences[i] for i in self.rows], self.max_length)
        return self._tokens

    def _batches(self) -> Iterator[dict]:
        first = self.rows.start
        for positions, batch in self.tokens().batches(self.batch_size, self.pin_memory):
            index = torch.from_numpy(positions + first)
            batch["index"] = index.pin_memory() if self.pin_memory else index
            yield batch

    def __iter__(self) -> Iterator[dict]:
        return prefetched(self._batches())


def gather_shards(
    index: torch.Tensor,
    embeddings: torch.Tensor,
    total: int,
    world_size: int = 1,
    all_gather: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> torch.Tensor:
    """Every rank's shard of embeddings in sentence order: (total, H) float32 on the CPU.

    ``index`` (m,) and ``embeddings`` (m, H) are this rank's rows (in any order). Shards are padded
    to ⌈total / world_size⌉ rows (index −1) for one ``all_gather`` (Lightning's
    ``LightningModule.all_gather``: (w, m', …)) and the padding is dropped, so no pair counts twice.
    """
    if world_size > 1:
        if all_gather is None:
            raise ValueError("gather_shards needs all_gather when world_size > 1")
        pad = -(-total // world_size) - index.numel()
        index = torch.cat([index, index.new_full((pad,), -1)])
        embeddings = torch.cat([embeddings, embeddings.new_zeros(pad, embeddings.size(1))])
        index = all_gather(index).reshape(-1)
        embeddings = all_gather(embeddings).reshape(-1, embeddings.size(-1))
    keep = index >= 0
    if int(keep.sum()) != total:
        raise RuntimeError(f"evaluation gathered {int(keep.sum())} embeddings, expected {total}")
    out = torch.empty(total, embeddings.size(1), dtype=torch.float32)
    out[index[keep].cpu()] = embeddings[keep].float().cpu()
    return out

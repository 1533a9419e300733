"""The one way lit_srl embeds sentences for evaluation: token-count-sorted batches, sharded by rank.

Used by ``eval`` (:func:`encode_sentences`), :meth:`SentenceEncoder.encode`, the in-training
validation and test loops (:class:`SentenceShard` + :func:`gather_shards`) and, through them, the
sweep's test step and the transfer tasks.

Why sort by tokens: a batch is padded to its longest member, so batches of near-equal token counts
waste little. On the seven STS test sets (26,289 unique sentences, bert-base-uncased vocabulary,
batch 128), sorting by token count leaves 1.9% of the batch positions padding, sorting by
characters 31%; on STS-B dev (2,909 sentences) 7.4% against 31%.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset

from lit_srl.errors import check_choice

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
    if not sentences:
        return np.zeros(0, dtype=np.int64)
    ids = tokenizer(
        list(sentences), truncation=True, max_length=truncation_length(tokenizer, max_length),
        return_attention_mask=False, return_token_type_ids=False,
    )["input_ids"]
    return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))


def autocast_context(precision: str, device: torch.device):
    """``torch.autocast`` in bf16 for ``precision="bf16"``; a no-op for ``"32"``."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    rows = np.arange(len(sentences)) if indices is None else np.asarray(list(indices), dtype=np.int64)
    chosen = [sentences[i] for i in rows]
    order = rows[np.argsort(-token_counts(tokenizer, chosen, max_length), kind="stable")]
    limit = truncation_length(tokenizer, max_length)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer(
            [sentences[i] for i in idx], padding=True, truncation=True, max_length=limit, return_tensors="pt"
        )
        yield torch.from_numpy(idx.copy()), dict(batch)


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
    """
    current = next(encoder.parameters()).device
    device = current if device is None else torch.device(device)
    if device != current:
        encoder.to(device)
    rows = range(len(sentences)) if indices is None else list(indices)
    position = {row: k for k, row in enumerate(rows)} if indices is not None else None
    out = torch.empty(len(rows), encoder.hidden_size, dtype=torch.float32)
    was_training = encoder.training
    encoder.eval()
    try:
        with autocast_context(precision, device):
            for index, batch in sentence_batches(encoder.tokenizer, sentences, batch_size, max_length, indices):
                emb = encoder(**{k: v.to(device) for k, v in batch.items()})
                if position is not None:
                    index = torch.tensor([position[int(i)] for i in index])
                out[index] = emb.float().cpu()
    finally:
        encoder.train(was_training)
    return out


class SentenceShard(IterableDataset):
    """This rank's disjoint :func:`shard` of ``sentences`` as :func:`sentence_batches` (for Lightning).

    Yields the tokenised batch with an extra ``index`` (B,) — positions in ``sentences``. An
    IterableDataset, so Lightning injects no DistributedSampler (which would pad by repeating
    sentences and count pairs twice). ``evaluator`` is whatever scores the gathered embeddings
    (an :class:`STSEvaluator`); the module reads it from its dataloader.
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
    ) -> None:
        super().__init__()
        self.sentences = sentences
        self.rows = shard(len(sentences), rank, world_size)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.evaluator = evaluator

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self):
        for index, batch in sentence_batches(self.tokenizer, self.sentences, self.batch_size, self.max_length, self.rows):
            batch["index"] = index
            yield batch


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

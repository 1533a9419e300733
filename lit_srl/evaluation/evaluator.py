"""``STSEvaluator``: encode each unique sentence of a set of STS tasks once, then score them all.

STS files repeat sentences (within and across tasks: STS-B is drawn from STS12–16), so the
evaluator keeps one list ``.sentences`` of the unique sentences and, per task, two index arrays
into it. ``.score(E)`` takes the (len(.sentences), H) embedding matrix in that order; how it was
computed (one process, or disjoint shards gathered across ranks, see :func:`shard`) is the
caller's business.
"""

from __future__ import annotations

import contextlib
import os
from typing import Optional, Sequence

import numpy as np
import torch

from lit_srl.errors import check_choice
from lit_srl.evaluation.scoring import normalize_rows, score_task
from lit_srl.evaluation.tasks import STSTask, load_tasks

PRECISIONS = ("32", "bf16")


def shard(n: int, rank: int, world_size: int) -> range:
    """Rank ``rank``'s contiguous block of ``range(n)``: disjoint, covering, sizes differ by ≤ 1.

    ``[shard(n, r, w) for r in range(w)]`` concatenated is ``range(n)``, so embeddings of the
    shards stacked in rank order are the full matrix (see :func:`unshard`).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    return range(rank * n // world_size, (rank + 1) * n // world_size)


def unshard(gathered: torch.Tensor | Sequence[torch.Tensor], n: int) -> torch.Tensor:
    """Reassemble the (n, H) matrix from per-rank shard embeddings.

    ``gathered`` is either a list of (len(shard(n, r, w)), H) tensors in rank order, or a
    (w, m, H) tensor from an all-gather in which each rank padded its shard to m = ⌈n / w⌉ rows.
    """
    world_size = len(gathered)
    parts = [gathered[r][: len(shard(n, r, world_size))] for r in range(world_size)]
    return torch.cat(list(parts), dim=0)


def token_counts(tokenizer, sentences: Sequence[str], max_length: Optional[int] = None) -> np.ndarray:
    """Tokens per sentence (special tokens included, truncated as ``SentenceEncoder.tokenize``
    truncates), (n,) int64."""
    if not sentences:
        return np.zeros(0, dtype=np.int64)
    limit = max_length or min(int(tokenizer.model_max_length), 512)
    ids = tokenizer(
        list(sentences), truncation=True, max_length=limit,
        return_attention_mask=False, return_token_type_ids=False,
    )["input_ids"]
    return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))


def autocast_context(precision: str, device: torch.device):
    """``torch.autocast`` in bf16 for ``precision="bf16"``; a no-op for ``"32"``."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class STSEvaluator:
    """Scores sentence embeddings on a list of :class:`STSTask` (cosine, Spearman, float64).

    Attributes:
        tasks: the tasks, in the order given.
        sentences: the unique sentences across all tasks, in first-seen order.
        pairs: per task name, the (n,) index arrays ``(i1, i2)`` into ``sentences``.
    """

    def __init__(self, tasks: Sequence[STSTask]) -> None:
        self.tasks = list(tasks)
        index: dict[str, int] = {}
        self.pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for task in self.tasks:
            i1 = np.array([index.setdefault(s, len(index)) for s in task.sentences1], dtype=np.int64)
            i2 = np.array([index.setdefault(s, len(index)) for s in task.sentences2], dtype=np.int64)
            self.pairs[task.name] = (i1, i2)
        self.sentences: list[str] = list(index)

    @classmethod
    def from_data_dir(
        cls,
        data_dir: Optional[os.PathLike | str] = None,
        tasks: Optional[str | Sequence[str]] = None,
        split: str = "test",
    ) -> "STSEvaluator":
        """Load ``tasks`` (names or a comma-separated string; default: all seven for ``test``,
        STS-B and SICK-R otherwise) on ``split`` from ``<data_dir>/senteval``."""
        return cls(load_tasks(tasks, split, data_dir))

    def __len__(self) -> int:
        return len(self.sentences)

    def similarities(self, embeddings: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Per task, the (n_pairs,) float64 cosines of its pairs from the (len(.sentences), H)
        matrix: cos_i = ê[i1]·ê[i2] with ê = e/‖e‖ (0 for a zero row), exactly 1 where i1 == i2."""
        if isinstance(embeddings, torch.Tensor):
            embeddings = embeddings.detach().float().cpu().numpy()
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(self.sentences):
            raise ValueError(
                f"embeddings must have shape (len(.sentences)={len(self.sentences)}, H); "
                f"got {tuple(embeddings.shape)}"
            )
        unit = normalize_rows(embeddings)
        nonzero = unit.any(axis=1)
        sims = {}
        for name, (i1, i2) in self.pairs.items():
            cos = np.einsum("ij,ij->i", unit[i1], unit[i2])
            # A sentence paired with itself has cosine exactly 1 (not 1 ± rounding, whose
            # arbitrary order would leak into the ranks of these tied pairs).
            cos[(i1 == i2) & nonzero[i1]] = 1.0
            sims[name] = cos
        return sims

    def score(self, embeddings: torch.Tensor | np.ndarray) -> dict:
        """Score every task: ``{task: {"spearman", "pearson", "n_pairs", ...}, "avg": mean ρ}``.

        ``embeddings`` is (len(.sentences), H), row k embedding ``.sentences[k]``. STS12–16
        entries also carry ``"subsets"``, ``"wmean_spearman"`` and ``"wmean_pearson"`` (see
        :func:`lit_srl.evaluation.scoring.score_task`). ``"avg"`` is the unweighted mean of the
        tasks' Spearman values (the paper's 7-task average when all seven are present).
        """
        sims = self.similarities(embeddings)
        results: dict = {task.name: score_task(task, sims[task.name]) for task in self.tasks}
        results["avg"] = float(np.mean([results[t.name]["spearman"] for t in self.tasks]))
        return results

    def encode(
        self,
        encoder,
        batch_size: int = 128,
        device: Optional[torch.device | str] = None,
        max_length: Optional[int] = None,
        precision: str = "32",
        indices: Optional[Sequence[int]] = None,
    ) -> torch.Tensor:
        """Embed ``.sentences`` (or the rows ``indices``, e.g. a :func:`shard`) → (n, H) float32 CPU.

        Sentences are sorted by their number of tokens and each batch of ``batch_size`` goes
        through ``encoder.encode`` (inference mode, dropout off, head only if ``head_at_eval``):
        batches of near-equal token counts carry ~2% padding on the STS suite, against ~45% when
        sorted by characters. ``device`` defaults to the encoder's; the encoder is moved there if
        it is elsewhere. ``precision="bf16"`` runs the encoder under bf16 autocast; the
        embeddings come back in float32 and the cosines are computed in float64.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        current = next(encoder.parameters()).device
        device = current if device is None else torch.device(device)
        if device != current:
            encoder.to(device)
        sentences = self.sentences if indices is None else [self.sentences[i] for i in indices]
        order = np.argsort(-token_counts(encoder.tokenizer, sentences, max_length), kind="stable")
        out = torch.empty(len(sentences), encoder.hidden_size, dtype=torch.float32)
        with autocast_context(precision, device):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = [sentences[i] for i in idx]
                out[torch.from_numpy(idx)] = encoder.encode(
                    batch, batch_size=len(batch), max_length=max_length, device=device
                )
        return out

    def evaluate(
        self,
        encoder,
        batch_size: int = 128,
        device: Optional[torch.device | str] = None,
        max_length: Optional[int] = None,
        precision: str = "32",
    ) -> dict:
        """Single process: :meth:`encode` every unique sentence once, then :meth:`score`."""
        return self.score(self.encode(encoder, batch_size, device, max_length, precision))

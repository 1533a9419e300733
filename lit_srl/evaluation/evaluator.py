"""``STSEvaluator``: encode each unique sentence of a set of STS tasks once, then score them all.

STS files repeat sentences (within and across tasks: STS-B is drawn from STS12–16), so the
evaluator keeps one list ``.sentences`` of the unique sentences and, per task, two index arrays
into it. ``.score(E)`` takes the (len(.sentences), H) embedding matrix in that order, computed
by the one encode path of :mod:`lit_srl.evaluation.encoding` (:meth:`encode` in one process; in
training, :class:`~lit_srl.evaluation.encoding.SentenceShard` per rank and
:func:`~lit_srl.evaluation.encoding.gather_shards`).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
import torch

from lit_srl.evaluation.encoding import encode_sentences
from lit_srl.evaluation.scoring import normalize_rows, score_task
from lit_srl.evaluation.tasks import STSTask, load_tasks

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
    ) -> torch.Tensor:
        """Embed ``.sentences`` through :func:`lit_srl.evaluation.encoding.encode_sentences`: (n, H) float32 CPU."""
        return encode_sentences(encoder, self.sentences, batch_size, device, max_length, precision)

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

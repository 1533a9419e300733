"""``TransferEvaluator``: embed each task's sentences once, then train and score its classifiers.

Per task, the distinct sentences of all its splits go once through
:func:`lit_srl.evaluation.encoding.encode_sentences` (the STS path: token-count-sorted batches,
eval mode), giving E (n_sentences, H); a split's features are rows of E — for MRPC the pair
features [|u − v|, u ∗ v] (n, 2H), as SentEval's ``mrpc.py``. The classifiers then train on the
device the encoder is on (:mod:`lit_srl.evaluation.transfer.protocol`).

Results per task: ``{"accuracy", "dev_accuracy", "n_dev", "n_test", "l2", "seconds"}`` (+ ``"f1"``
for MRPC: binary F1 of the paraphrase class on test), accuracies as fractions (SentEval's
``acc``/``devacc`` ÷ 100); ``n_dev``/``n_test`` as SentEval counts them (the cross-validated
tasks count every sentence in both).
"""

from __future__ import annotations

import os
import time
from typing import Optional, Sequence

import numpy as np
import torch

from lit_srl.errors import check_choice
from lit_srl.evaluation.encoding import encode_sentences
from lit_srl.evaluation.transfer.classifier import MODES
from lit_srl.evaluation.transfer.protocol import fixed_split, inner_kfold, kfold
from lit_srl.evaluation.transfer.tasks import TRANSFER_TASKS, LabeledSplit, TransferTask, load_transfer_tasks

#: SentEval's default seed.
DEFAULT_SEED = 1111


def split_features(split: LabeledSplit, embeddings: torch.Tensor, row_of: dict[str, int]) -> torch.Tensor:
    """A split's (n, H) features — (n, 2H) ``[|u − v|, u ∗ v]`` for sentence pairs — from the task's
    embedding matrix ``embeddings`` (rows ``row_of[sentence]``)."""
    u = embeddings[torch.tensor([row_of[s] for s in split.sentences], dtype=torch.long)]
    if split.sentences2 is None:
        return u
    v = embeddings[torch.tensor([row_of[s] for s in split.sentences2], dtype=torch.long)]
    return torch.cat([(u - v).abs(), u * v], dim=1)


def binary_f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """F1 of class 1: 2·TP / (2·TP + FP + FN) (0 when there are no positives at all)."""
    tp = int(np.sum((predictions == 1) & (labels == 1)))
    wrong = int(np.sum(predictions != labels))
    return 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0


def score_task(task: TransferTask, embeddings: torch.Tensor, sentences: Sequence[str], mode: str = "full",
               seed: int = DEFAULT_SEED, device: Optional[torch.device | str] = None) -> dict:
    """Train and score ``task``'s classifiers on ``embeddings`` (len(sentences), H), row k
    embedding ``sentences[k]``; the classifiers train on ``device`` (default: the embeddings')."""
    check_choice("transfer mode", mode, MODES)
    settings = MODES[mode]
    row_of = {s: k for k, s in enumerate(sentences)}
    embeddings = embeddings.float().to(device if device is not None else embeddings.device)
    features = {name: split_features(split, embeddings, row_of) for name, split in task.splits.items()}
    labels = {name: split.labels for name, split in task.splits.items()}
    start = time.perf_counter()
    if task.protocol == "inner_kfold":
        result = inner_kfold(features["all"], labels["all"], task.n_classes, settings, seed)
        n_dev = n_test = len(labels["all"])
    elif task.protocol == "split":
        result = fixed_split(features["train"], labels["train"], features["dev"], labels["dev"],
                             features["test"], labels["test"], task.n_classes, settings, seed)
        n_dev, n_test = len(labels["dev"]), len(labels["test"])
    else:
        result = kfold(features["train"], labels["train"], features["test"], labels["test"], task.n_classes, settings, seed)
        n_dev, n_test = len(labels["train"]), len(labels["test"])
        predictions = result.pop("predictions")
        if task.name == "MRPC":
            result["f1"] = round(binary_f1(predictions, labels["test"]), 4)
    result.update(n_dev=n_dev, n_test=n_test, seconds=time.perf_counter() - start)
    return result


class TransferEvaluator:
    """Scores an encoder on a list of :class:`TransferTask` with SimCSE's protocol.

    Args:
        tasks: the loaded tasks.
        mode: ``full`` (SimCSE's ``--mode test``: Adam, batch 64, tenacity 5, epoch size 4,
            10 folds) or ``fast`` (``--mode dev``/``fasttest``: RMSprop, batch 128, tenacity 3,
            epoch size 2, 5 folds).
        seed: seeds every classifier and the folds (SentEval's 1111 by default).
    """

    def __init__(self, tasks: Sequence[TransferTask], mode: str = "full", seed: int = DEFAULT_SEED) -> None:
        check_choice("transfer mode", mode, MODES)
        self.tasks, self.mode, self.seed = list(tasks), mode, seed

    @classmethod
    def from_data_dir(cls, data_dir: Optional[os.PathLike | str] = None, tasks: Sequence[str] = TRANSFER_TASKS,
                      mode: str = "full", seed: int = DEFAULT_SEED) -> "TransferEvaluator":
        return cls(load_transfer_tasks(tasks, data_dir), mode, seed)

    def __len__(self) -> int:
        """Sentences encoded over all tasks (each task's distinct sentences once)."""
        return sum(len(task.sentences) for task in self.tasks)

    def evaluate(self, encoder, batch_size: int = 128, device: Optional[torch.device | str] = None,
                 max_length: Optional[int] = None, precision: str = "32") -> dict:
        """``{task: result}`` for every task (see the module docstring); classifiers train on
        ``device`` (default: the encoder's)."""
        results = {}
        for task in self.tasks:
            sentences = task.sentences
            embeddings = encode_sentences(encoder, sentences, batch_size, device, max_length, precision)
            classifier_device = next(encoder.parameters()).device
            results[task.name] = score_task(task, embeddings, sentences, self.mode, self.seed, classifier_device)
        return results


def transfer_average(results: dict, key: str = "accuracy") -> float:
    """The unweighted mean of ``results[task][key]`` over the transfer tasks present (SimCSE's "Avg.")."""
    values = [results[name][key] for name in TRANSFER_TASKS if name in results]
    return float(np.mean(values)) if values else float("nan")

"""SentEval's transfer tasks (MR, CR, SUBJ, MPQA, SST2, TREC, MRPC) with SimCSE's protocol.

- :mod:`.tasks` — loaders for SentEval's ``data/downstream`` layout;
- :mod:`.classifier` — the logistic regression and the two modes (``full``, ``fast``);
- :mod:`.protocol` — the folds and the three validation schemes (inner k-fold, k-fold, fixed split);
- :mod:`.evaluator` — embed once per task, score every task.
"""

from lit_srl.evaluation.transfer.classifier import L2_GRID, MODES, ClassifierSettings, LogisticRegression
from lit_srl.evaluation.transfer.evaluator import DEFAULT_SEED, TransferEvaluator, score_task, transfer_average
from lit_srl.evaluation.transfer.protocol import fixed_split, inner_kfold, kfold, stratified_folds
from lit_srl.evaluation.transfer.tasks import (
    TASK_FOLDERS,
    TRANSFER_TASKS,
    LabeledSplit,
    TransferTask,
    load_transfer_task,
    load_transfer_tasks,
)

__all__ = [
    "DEFAULT_SEED",
    "L2_GRID",
    "MODES",
    "TASK_FOLDERS",
    "TRANSFER_TASKS",
    "ClassifierSettings",
    "LabeledSplit",
    "LogisticRegression",
    "TransferEvaluator",
    "TransferTask",
    "fixed_split",
    "inner_kfold",
    "kfold",
    "load_transfer_task",
    "load_transfer_tasks",
    "score_task",
    "stratified_folds",
    "transfer_average",
]

"""STS evaluation (SentEval's suite, SimCSE's protocol) and export to sentence-transformers."""

from lit_srl.evaluation.encoding import PRECISIONS, encode_sentences, gather_shards, shard
from lit_srl.evaluation.evaluator import STSEvaluator
from lit_srl.evaluation.scoring import correlations, paired_cosine, score_task
from lit_srl.evaluation.tasks import (
    SPLITS,
    TASKS,
    YEARLY_SUBSETS,
    STSTask,
    default_data_dir,
    load_task,
    load_tasks,
)

__all__ = [
    "PRECISIONS",
    "SPLITS",
    "STSEvaluator",
    "STSTask",
    "TASKS",
    "YEARLY_SUBSETS",
    "correlations",
    "default_data_dir",
    "encode_sentences",
    "gather_shards",
    "load_task",
    "load_tasks",
    "paired_cosine",
    "score_task",
    "shard",
]

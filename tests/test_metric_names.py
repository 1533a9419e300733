"""Logged names: one constant each, no two alike; STS scores flattened to their logged names."""

from __future__ import annotations

from lit_srl import metric_names as names
from lit_srl.evaluation.tasks import TASKS


def test_every_tag_is_unique():
    tags = [v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)]
    assert len(tags) == len(set(tags))


def test_sts_metric_names_are_short_and_unique():
    metrics = [names.sts_metric(task) for task in TASKS]
    assert metrics == ["sts12_spearman", "sts13_spearman", "sts14_spearman", "sts15_spearman", "sts16_spearman",
                       "stsb_spearman", "sickr_spearman"]
    assert names.VAL_STSB == f"val/{names.sts_metric('STSBenchmark')}"


def test_sts_scalars_flatten_the_evaluator_s_results():
    results = {"STS12": {"spearman": 0.5, "subsets": {}}, "STSBenchmark": {"spearman": 0.8}, "avg": 0.65}
    assert names.sts_scalars(results) == {"sts12_spearman": 0.5, "stsb_spearman": 0.8, "avg": 0.65}
    # one task: no average
    assert names.sts_scalars({"STSBenchmark": {"spearman": 0.8}, "avg": 0.8}) == {"stsb_spearman": 0.8}

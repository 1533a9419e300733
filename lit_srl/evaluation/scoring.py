"""STS scores as SentEval (with SimCSE's "all" setting) reports them.

For pairs (u_i, v_i) with gold g_i the system score is the cosine s_i = u_i·v_i / (‖u_i‖ ‖v_i‖)
(0 where a norm is 0, as SentEval's ``nan_to_num``), and a task is scored by Spearman's ρ(s, g)
(Pearson's r beside it), in float64 with scipy.stats. STS12–16 pool every subset of the year into
one list ("all", SimCSE's setting); the per-subset values and their pair-weighted mean
("wmean", SentEval's original summary) are reported beside it.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from scipy import stats

from lit_srl.evaluation.tasks import YEARLY_SUBSETS, STSTask


def normalize_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float64, (n, H) → (n, H); zero rows stay zero."""
    x = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(x / norms, nan=0.0, posinf=0.0, neginf=0.0)


def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_i) for (n, H) and (n, H) → (n,) float64 (0 where a vector is zero)."""
    return np.einsum("ij,ij->i", normalize_rows(a), normalize_rows(b))


def correlations(predicted: Sequence[float], gold: Sequence[float]) -> tuple[float, float]:
    """(Spearman ρ, Pearson r) as Python floats; NaN if either side is constant or n < 2."""
    predicted = np.asarray(predicted, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if len(predicted) < 2 or np.ptp(predicted) == 0 or np.ptp(gold) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spearman = stats.spearmanr(predicted, gold).statistic
        pearson = stats.pearsonr(predicted, gold).statistic
    return float(spearman), float(pearson)


def score_task(task: STSTask, similarities: np.ndarray) -> dict:
    """Score one task from its pairs' similarities (n,).

    Returns ``{"spearman", "pearson", "n_pairs"}``; for STS12–16 also
    ``"subsets": {name: {"spearman", "pearson", "n_pairs"}}``, ``"wmean_spearman"`` and
    ``"wmean_pearson"`` (subset values averaged with weights n_pairs).
    """
    similarities = np.asarray(similarities, dtype=np.float64)
    spearman, pearson = correlations(similarities, task.scores)
    result = {"spearman": spearman, "pearson": pearson, "n_pairs": int(len(task))}
    if task.name in YEARLY_SUBSETS:
        subsets = np.asarray(task.subsets)
        per_subset = {}
        for name in task.subset_names:
            mask = subsets == name
            rho, r = correlations(similarities[mask], task.scores[mask])
            per_subset[name] = {"spearman": rho, "pearson": r, "n_pairs": int(mask.sum())}
        weights = np.array([v["n_pairs"] for v in per_subset.values()], dtype=np.float64)
        result["subsets"] = per_subset
        result["wmean_spearman"] = float(
            np.average([v["spearman"] for v in per_subset.values()], weights=weights)
        )
        result["wmean_pearson"] = float(
            np.average([v["pearson"] for v in per_subset.values()], weights=weights)
        )
    return result

"""What lit_srl logs, by name: the TensorBoard tags written during training and read back after.

One home for these strings: the model and callbacks log under them, the figures
(:mod:`lit_srl.analysis.figures`) and the sweep's result records (:mod:`lit_srl.sweep.record`)
read them.

Gradient components (Li, Zhang & Nie, ACL 2024), per training batch, means over anchors:
GD = gradient dissipation, W = the weight share of the hardest negative, R = the ratio.
Cosine statistics: s_ij = u_i·v_j of the two views' unit embeddings; alignment and uniformity of
Wang & Isola (2020).
"""

from __future__ import annotations

TRAIN_LOSS = "train/loss"
SENTENCES_PER_SECOND = "train/sent_per_s"
SKIPPED_STEPS = "train/skipped_steps"
VAL_STSB = "val/stsb_spearman"

GD_MEAN = "grad/gd_mean"
W_HARDEST = "grad/w_hardest"
RATIO_MEAN = "grad/ratio_mean"
GD_HISTOGRAM = "grad/gd"

COS_POS_MEAN = "cos/pos_mean"
COS_NEG_MEAN = "cos/neg_mean"
COS_NEG_MAX_MEAN = "cos/neg_max_mean"
ALIGNMENT = "cos/alignment"
UNIFORMITY = "cos/uniformity"
COS_POS_HISTOGRAM = "cos/pos"
COS_NEG_HISTOGRAM = "cos/neg"


#: The loss's statistics (lit_srl.losses.stats: ``LossOutput.stats``, ``details.means()`` and
#: ``details.samples()``) → the tags GradientComponentMonitor logs them under (``uniformity``:
#: the log of the mean over ranks of ``uniformity_exp``).
LOSS_STATS = {
    "gd_mean": GD_MEAN, "w_hardest": W_HARDEST, "ratio_mean": RATIO_MEAN,
    "cos_pos_mean": COS_POS_MEAN, "cos_neg_mean": COS_NEG_MEAN, "cos_neg_max_mean": COS_NEG_MAX_MEAN,
    "alignment": ALIGNMENT, "uniformity": UNIFORMITY,
    "cos_pos": COS_POS_HISTOGRAM, "cos_neg": COS_NEG_HISTOGRAM, "gd": GD_HISTOGRAM,
}


def effective(key: str) -> str:
    """The tag of a component measured from autograd by EffectiveComponentMonitor (``grad_eff/…``)."""
    return f"grad_eff/{key}"


#: Short names of SentEval's STS tasks in logs: val/stsb_spearman, test/sts12_spearman, test/sickr_spearman, …
STS_SHORT_NAMES = {"STSBenchmark": "stsb", "SICKRelatedness": "sickr"}


def sts_metric(task: str) -> str:
    """The logged name of an STS task's Spearman (``STSBenchmark`` → ``stsb_spearman``)."""
    return f"{STS_SHORT_NAMES.get(task, task.lower())}_spearman"


def sts_scalars(results: dict) -> dict[str, float]:
    """``{STSBenchmark: {spearman: x}, …, avg: y}`` → ``{stsb_spearman: x, …, avg: y}`` (``avg`` only
    when there are several tasks); the model logs them under ``val/`` or ``test/``."""
    flat = {}
    for task, res in results.items():
        if isinstance(res, dict) and "spearman" in res:
            flat[sts_metric(task)] = float(res["spearman"])
    if len(flat) > 1 and "avg" in results:
        flat["avg"] = float(results["avg"])
    return flat


#: The monitor's scalars summarised (mean over the run) in each run's result.json: tag → key.
RUN_SUMMARY = {
    GD_MEAN: "gd_mean", W_HARDEST: "w_hardest", RATIO_MEAN: "ratio_mean",
    COS_POS_MEAN: "cos_pos_mean", COS_NEG_MEAN: "cos_neg_mean", COS_NEG_MAX_MEAN: "cos_neg_max_mean",
    ALIGNMENT: "alignment", UNIFORMITY: "uniformity",
}

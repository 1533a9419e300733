"""The experiment's picture: each objective's STS change against the untrained backbone.

The paper's Figure 1 compares, at equal budget, the 7-task STS average of the contrastive losses
(InfoNCE, ArcCon, MPT, MET) with the non-contrastive objectives in their original ("ori") and
component-repaired ("mod") forms. :func:`plot_objectives` draws that comparison from the result
records of :mod:`lit_srl.experiment`, as a change against the untrained backbone, so a
continued-training run (whose backbone already scores well) and a from-MLM run read the same way:

    Δ_k = 100 · (score_k(objective, seed) − score_k(baseline)),   k ∈ {avg, STS-B}

Bars are the mean over seeds; with two or more seeds the error bar is the sample standard
deviation and every seed is drawn as a dot. Colours group the objectives: contrastive, ori, mod.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

#: Bar colour per family (colour-blind safe: Okabe–Ito blue, grey, orange).
FAMILY_COLOURS = {"contrastive": "#0072B2", "ori": "#999999", "mod": "#E69F00"}
FAMILY_LABELS = {"contrastive": "contrastive", "ori": "non-contrastive ori", "mod": "non-contrastive mod"}
CONTRASTIVE = {"infonce", "arccon", "mpt", "met", "sg"}


def family(objective: str) -> str:
    """``contrastive`` for the four losses of the paradigm (and ``sg``), else ``mod``/``ori``."""
    if objective in CONTRASTIVE:
        return "contrastive"
    return "mod" if objective.endswith("_mod") else "ori"


def gains(runs: list[dict], baseline: dict, key: str) -> list[float]:
    """100 · (run score − baseline score) for ``key`` over the runs that have it."""
    base = baseline["scores"].get(key)
    if base is None:
        return []
    return [100 * (r["scores"][key] - base) for r in runs if r["scores"].get(key) is not None]


def plot_objectives(records: dict[str, list[dict]], baseline: dict, labels: dict[str, str], path: Path,
                    title: str) -> Optional[Path]:
    """Write a two-panel bar chart (Δ avg, Δ STS-B) to ``path``; None when there is nothing to draw.

    ``records``: objective → its run records (``scores`` dicts of Spearman ρ in [−1, 1]), in table
    order; ``baseline``: the untrained backbone's record; ``labels``: objective → display name.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, runs in records.items() if runs]
    panels = [(key, head) for key, head in (("avg", "Δ average of the STS tasks"), ("STSBenchmark", "Δ STS-B test"))
              if any(gains(records[n], baseline, key) for n in names)]
    if not names or not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 0.65 * len(names) + 2), 3.2 * len(panels)),
                             squeeze=False, sharex=True)
    for ax, (key, head) in zip(axes[:, 0], panels):
        for x, name in enumerate(names):
            values = gains(records[name], baseline, key)
            if not values:
                continue
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
            ax.bar(x, mean, color=FAMILY_COLOURS[family(name)], yerr=std, capsize=3 if std else 0)
            if len(values) > 1:
                ax.plot([x] * len(values), values, "k.", markersize=4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel(f"{head}\n(Spearman ×100)")
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xticks(range(len(names)), [labels.get(n, n) for n in names], rotation=45, ha="right")
    present = [f for f in FAMILY_COLOURS if any(family(n) == f for n in names)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=FAMILY_COLOURS[f]) for f in present]
    axes[0, 0].legend(handles, [FAMILY_LABELS[f] for f in present], fontsize=8, loc="best")
    axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

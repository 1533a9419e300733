"""The sweep report's pictures: the paper's Figure 1 comparison and the component sweeps.

The paper's Figure 1 compares, at equal budget, the 7-task STS average of the contrastive losses
(InfoNCE, ArcCon, MPT, MET) with the non-contrastive objectives in their original ("ori") and
component-repaired ("mod") forms. :func:`plot_gains` draws that comparison from a sweep's result
records (:mod:`lit_srl.sweep.report`) as a change against the untrained backbone, so a
continued-training run (whose backbone already scores well) and a from-MLM run read the same way:

    Δ = 100 · (avg(objective, seed) − avg(untrained backbone))

Bars are the mean over seeds; with two or more seeds the error bar is the sample standard
deviation and every seed is drawn as a dot. Colours group the objectives: contrastive, ori, mod.
:func:`plot_component_sweeps` draws the STS average against each swept component value.
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


def _mean_std(values: list[float]) -> tuple[float, Optional[float]]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
    return mean, std


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_gains(groups: dict[str, list[float]], path: Path, title: str) -> Optional[Path]:
    """Bars of Δ = 100·(avg − baseline avg) per group (mean over seeds, error bar = std, dots = seeds).

    ``groups``: label → the seeds' Δ values, in table order; labels are preset names
    (``barlowtwins_mod`` …), coloured contrastive / ori / mod by :func:`family`.
    """
    names = [name for name, values in groups.items() if values]
    if not names:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.65 * len(names) + 2), 3.6))
    for x, name in enumerate(names):
        mean, std = _mean_std(groups[name])
        ax.bar(x, mean, color=FAMILY_COLOURS[family(name)], yerr=std, capsize=3 if std else 0)
        if len(groups[name]) > 1:
            ax.plot([x] * len(groups[name]), groups[name], "k.", markersize=4)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("Δ STS average\n(Spearman ×100)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    present = [f for f in FAMILY_COLOURS if any(family(n) == f for n in names)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=FAMILY_COLOURS[f]) for f in present]
    ax.legend(handles, [FAMILY_LABELS[f] for f in present], fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_component_sweeps(panels: dict[str, list[tuple[object, float]]], path: Path, title: str) -> Optional[Path]:
    """One panel per swept key: STS average ×100 against the key's value (seeds as dots, mean as a line).

    ``panels``: dotted key → [(value, STS average ×100), …]. Numeric values are placed on a log
    axis when they span more than a factor of 20; other values are categories.
    """
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 0.6, 3.4), squeeze=False)
    for ax, (key, points) in zip(axes[0], panels.items()):
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
        values = sorted({x for x, _ in points}, key=lambda v: (not numeric, v if numeric else str(v)))
        position = (lambda v: v) if numeric else (lambda v: values.index(v))
        means = []
        for value in values:
            ys = [y for x, y in points if x == value]
            ax.plot([position(value)] * len(ys), ys, "k.", markersize=5)
            means.append(sum(ys) / len(ys))
        ax.plot([position(v) for v in values], means, "-o", color=FAMILY_COLOURS["contrastive"], markersize=4)
        if numeric and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(key.rsplit(".", 1)[-1])
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("STS average (Spearman ×100)")
    fig.suptitle(title, fontsize=10)
    out = _save(fig, path)
    plt.close(fig)
    return out

"""``python -m lit_srl figures --logdir DIR``: PNG figures from a run's TensorBoard logs.

Reads every ``events.out.tfevents.*`` file under ``--logdir`` (recursively, with TensorBoard's
``EventAccumulator``; scalars and histograms of all files are merged by tag, later files win on
equal steps) and writes into ``--output`` (default ``DIR/figures``):

* ``components.png`` — grad/gd_mean, grad/w_hardest, grad/ratio_mean over optimizer steps
  (GradientComponentMonitor; the components of Li, Zhang & Nie, ACL 2024), with the measured
  grad_eff/* curves of EffectiveComponentMonitor overlaid where present.
* ``effective.png`` — grad_eff/residual and grad_eff/in_view_share.
* ``cosines.png`` — cos/pos_mean, cos/neg_mean, cos/neg_max_mean, and alignment / uniformity of
  Wang & Isola (2020).
* ``cos_hist.png`` — density of the cos/pos and cos/neg histograms (anchor–positive and
  anchor–negative cosines, the paper's Figure 5) as a heat-map of cosine vs step, re-binned on
  80 bins of [−1, 1] from the histograms' cumulative counts.
* ``stsb.png`` — val/stsb_spearman (STS-B dev Spearman ρ, as logged: −1 to 1) vs step.
* ``loss.png`` — train/loss vs step.

A figure whose tags are all missing is skipped with a message; a logdir without event files is an
error naming the path.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lit_srl import metric_names as names
from lit_srl.errors import LitSrlError

Series = dict[str, tuple[np.ndarray, np.ndarray]]


def event_files(logdir: Path) -> list[Path]:
    """Every TensorBoard event file under ``logdir``, sorted by path."""
    return sorted(p for p in Path(logdir).rglob("events.out.tfevents.*") if p.is_file())


def read_logs(logdir: Path) -> tuple[Series, dict[str, list[tuple[int, np.ndarray, np.ndarray]]]]:
    """(scalars, histograms) of every event file under ``logdir``.

    scalars: tag -> (steps (T,), values (T,)), sorted by step, one value per step.
    histograms: tag -> [(step, bucket_limits (B,), bucket_counts (B,))], sorted by step.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = Path(logdir)
    if not logdir.is_dir():
        raise LitSrlError(f"log directory {logdir} does not exist; pass the run's root or its lightning_logs/version_N folder")
    files = event_files(logdir)
    if not files:
        raise LitSrlError(f"no TensorBoard event files (events.out.tfevents.*) under {logdir}; pass the folder a fit wrote its logs to")
    scalars: dict[str, dict[int, float]] = {}
    hists: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for path in files:
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0})
        acc.Reload()
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            for e in acc.Scalars(tag):
                scalars.setdefault(tag, {})[e.step] = e.value
        for tag in tags.get("histograms", []):
            for e in acc.Histograms(tag):
                h = e.histogram_value
                hists.setdefault(tag, {})[e.step] = (np.asarray(h.bucket_limit, float), np.asarray(h.bucket, float))
    out_scalars = {t: (np.array(sorted(d)), np.array([d[s] for s in sorted(d)])) for t, d in scalars.items()}
    out_hists = {t: [(s, *d[s]) for s in sorted(d)] for t, d in hists.items()}
    return out_scalars, out_hists


def rebin(limits: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of a TensorBoard histogram (bucket i covers (limits[i−1], limits[i]]) on ``edges``:
    the cumulative count is interpolated linearly at the new edges and differenced."""
    limits = np.clip(limits, -1e300, 1e300)
    cdf = np.cumsum(counts)
    at = np.interp(edges, limits, cdf, left=0.0, right=cdf[-1] if cdf.size else 0.0)
    return np.diff(at)


def _line_panels(out: Path, name: str, title: str, panels: list[tuple[str, list[str], str]], scalars: Series) -> Optional[Path]:
    import matplotlib.pyplot as plt

    present = [(t, [tag for tag in tags if tag in scalars], unit) for t, tags, unit in panels]
    present = [p for p in present if p[1]]
    if not present:
        return None
    fig, axes = plt.subplots(len(present), 1, figsize=(8, 2.6 * len(present)), sharex=True, squeeze=False)
    for ax, (label, tags, unit) in zip(axes[:, 0], present):
        for tag in tags:
            steps, values = scalars[tag]
            ax.plot(steps, values, marker="." if steps.size < 30 else None, label=tag)
        ax.set_ylabel(f"{label}\n({unit})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("optimizer step")
    fig.suptitle(title)
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_cos_hist(out: Path, hists, tags: Sequence[str] = (names.COS_POS_HISTOGRAM, names.COS_NEG_HISTOGRAM), bins: int = 80) -> Optional[Path]:
    """Heat-map of the density of each cosine histogram over steps (x: step, y: cosine)."""
    import matplotlib.pyplot as plt

    present = [t for t in tags if t in hists and hists[t]]
    if not present:
        return None
    edges = np.linspace(-1.0, 1.0, bins + 1)
    fig, axes = plt.subplots(1, len(present), figsize=(6.5 * len(present), 4.2), squeeze=False)
    for ax, tag in zip(axes[0], present):
        steps = np.array([s for s, _, _ in hists[tag]], float)
        dens = []
        for _, limits, counts in hists[tag]:
            c = rebin(limits, counts, edges)
            total = c.sum()
            dens.append(c / (total * np.diff(edges)) if total > 0 else np.zeros(bins))
        dens = np.array(dens).T  # (bins, T)
        if steps.size > 1:
            mids = (steps[1:] + steps[:-1]) / 2
            x_edges = np.concatenate([[steps[0] - (mids[0] - steps[0])], mids, [steps[-1] + (steps[-1] - mids[-1])]])
        else:
            x_edges = np.array([steps[0] - 0.5, steps[0] + 0.5])
        mesh = ax.pcolormesh(x_edges, edges, dens, shading="flat", cmap="magma")
        support = np.flatnonzero(dens.sum(axis=1) > 0)
        if support.size:  # zoom on the occupied cosines, one bin of margin
            ax.set_ylim(edges[max(support[0] - 1, 0)], edges[min(support[-1] + 2, bins)])
        fig.colorbar(mesh, ax=ax, label="density (per unit cosine)")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("cosine similarity u_i·v_j (dimensionless)")
        what = "anchor–positive" if tag.endswith("pos") else "anchor–negative"
        ax.set_title(f"{tag}: {what} cosines over training")
    fig.tight_layout()
    path = out / "cos_hist.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def make_figures(logdir: Path, output: Path) -> list[Path]:
    """Write every figure whose tags are present; returns the written paths (prints skips)."""
    import matplotlib

    matplotlib.use("Agg")
    scalars, hists = read_logs(Path(logdir))
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written: list[Optional[Path]] = []
    specs = [
        ("components", "Gradient components of the training batch (Li, Zhang & Nie, ACL 2024)", [
            ("GD", [names.GD_MEAN, names.effective("gd_mean")], "mean over anchors, dimensionless"),
            ("W of hardest negative", [names.W_HARDEST, names.effective("w_hardest")], "weight share, 0–1"),
            ("R", [names.RATIO_MEAN, names.effective("ratio_mean")], "mean ratio, dimensionless"),
        ]),
        ("effective", "Measured (autograd) components: what the paradigm leaves out", [
            ("residual", [names.effective("residual")], "‖g − fit‖/‖g‖, dimensionless"),
            ("in-view share", [names.effective("in_view_share")], "‖in-view part‖/‖fit‖, dimensionless"),
        ]),
        ("cosines", "Cosine statistics of the training batch", [
            ("cosine", [names.COS_POS_MEAN, names.COS_NEG_MEAN, names.COS_NEG_MAX_MEAN], "mean cosine, dimensionless"),
            ("alignment", [names.ALIGNMENT], "E‖u−v‖², squared distance"),
            ("uniformity", [names.UNIFORMITY], "log E e^{−2‖u−u'‖²}, nats"),
        ]),
        ("stsb", "STS-B dev", [("Spearman", [names.VAL_STSB], "Spearman ρ, −1 to 1")]),
        ("loss", "Training loss", [("loss", [names.TRAIN_LOSS], "loss value, dimensionless")]),
    ]
    for name, title, panels in specs:
        path = _line_panels(output, name, title, panels, scalars)
        if path is None:
            tags = ", ".join(tag for _, group, _ in panels for tag in group)
            print(f"figures: skipped {name}.png (no {tags} in {logdir})")
        written.append(path)
    path = plot_cos_hist(output, hists)
    if path is None:
        print(f"figures: skipped cos_hist.png (no cos/pos or cos/neg histograms in {logdir})")
    written.append(path)
    return [p for p in written if p is not None]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lit_srl figures``."""
    p = argparse.ArgumentParser(prog="python -m lit_srl figures", description=__doc__.split("\n\n")[0])
    p.add_argument("--logdir", required=True, help="a run's root (or lightning_logs/version_N) with TensorBoard event files")
    p.add_argument("--output", default=None, help="folder for the PNGs (default: LOGDIR/figures)")
    args = p.parse_args(list([] if argv is None else argv))
    logdir = Path(args.logdir)
    output = Path(args.output) if args.output else logdir / "figures"
    for path in make_figures(logdir, output):
        print(f"figures: wrote {path}")
    return 0

"""``python -m lit_srl simulate``: the simulations of §3.1 of Li, Zhang & Nie (ACL 2024).

"Towards Better Understanding of Contrastive Sentence Representation Learning: A Unified Paradigm
for Gradient" studies the gradient ∂L_i/∂u_i = c·GD_i·Σ_{j≠i} W_ij (v_j − R_i v_i) of InfoNCE,
ArcCon, MPT and MET on synthetic batches given by angles only: one anchor, its positive at angle
θ_ii and 127 negatives at angles θ_ij (cos s = cos θ, MET's distance d = sqrt(max(2 − 2 cos θ, 1e-4))).
Three figures, as the official ``simulation.py`` computes them, GD and R by the losses' own
component functions (:mod:`lit_srl.losses.components`, on :class:`SampledAnchors`):

* **GD heat-maps** (``gd.csv``, ``gd.png``): θ_ii ~ N(μ_pos, 0.05), θ_ij ~ N(μ_neg, 0.10) (radians),
  μ_pos ∈ [0.05π, 0.5π] × μ_neg ∈ [0.05π, π] on a 100 × 100 grid, 1,000 batches of 128 per point;
  the mean over batches of

      InfoNCE  GD = 1/(1 + e^{cos θ_ii/τ} / Σ_j e^{cos θ_ij/τ})            τ = 0.05
      ArcCon   GD = 1/(1 + e^{cos(θ_ii+u)/τ} / Σ_j e^{cos θ_ij/τ})         τ = 0.05, u = π/18
      MPT      GD = 1[cos θ_ii − max_j cos θ_ij < m]                        m = 0.23
      MET      GD = 1[min_j d_ij − d_ii < m]                                m = 0.45

  computed as sigmoid(LSE_j(cos θ_ij/τ) − logit_pos/τ) for numerical stability. One set of
  sampled angles per grid point serves the four losses (common random numbers).
* **Weight of the hardest negative vs temperature** (``weight.csv``, ``weight.png``):
  θ_ii ~ N(0.5 rad, 0.05), θ_ij ~ N(μ_neg, 0.10), μ_neg ∈ [π/20, π] (100 points),
  τ ∈ {0.3, 0.1, 0.05, 0.03, 0.01, 0.005}; statistic = mean over the batches with InfoNCE
  GD ≥ 0.01 of max_j softmax_j(cos θ_ij/τ) = 1/Σ_j e^{(cos θ_ij − max_k cos θ_ik)/τ} (NaN where
  no batch passes; the official code writes 1.0 there). The same batches serve every τ.
* **Ratio maps** (``ratio.csv``, ``ratio.png``): deterministic, θ_ii = μ_pos, all negatives at
  θ_ij = μ_neg on the GD grid: ArcCon R = sin(θ_ii + u)/sin θ_ii, MET R = d_ij/d_ii, masked
  (shaded) where θ_ii > θ_ij (``pos_farther``) or GD is off (``gd_off``: ArcCon's GD with the
  127 negatives at θ_ij below 0.01; MET's d_ij − d_ii ≥ m).

Sampling is reproducible and independent of chunking: grid point k of figure f draws its angles
from a torch generator seeded by ``point_seed(seed, f, k)`` (positive angles (B,) first, then
negative angles (B, 127)); :func:`sample_angles` is that draw. Angles are float32, the grid is
processed in chunks of points so that memory stays bounded (``--chunk-mb``).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from lit_srl.errors import LitSrlError
from lit_srl.losses import components as comp

LOSSES = ("infonce", "arccon", "mpt", "met")
LOSS_TITLES = {"infonce": "InfoNCE", "arccon": "ArcCon", "mpt": "MPT", "met": "MET"}
FIGURES = ("gd", "weight", "ratio")
TEMPERATURES = (0.3, 0.1, 0.05, 0.03, 0.01, 0.005)


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of the three simulations (defaults: the paper's, notes §8)."""

    grid: int = 100  # points per axis of the GD grid / ratio maps; μ_neg points of the weight curve
    batches: int = 1000  # sampled batches per grid point
    batch_size: int = 128  # 1 positive + batch_size − 1 negatives
    pos_std: float = 0.05
    neg_std: float = 0.10
    pos_range: tuple[float, float] = (0.05 * math.pi, 0.5 * math.pi)
    neg_range: tuple[float, float] = (0.05 * math.pi, math.pi)
    weight_pos_mean: float = 0.5  # radians
    weight_neg_range: tuple[float, float] = (math.pi / 20, math.pi)
    temperatures: tuple[float, ...] = TEMPERATURES
    gd_threshold: float = 0.01
    temperature: float = 0.05  # InfoNCE and ArcCon
    arc_margin: float = math.pi / 18  # ArcCon's u (10°)
    mpt_margin: float = 0.23
    met_margin: float = 0.45
    seed: int = 0
    chunk_mb: float = 256.0


# ------------------------------------------------------------------------------ sampling
def point_seed(seed: int, figure: int, index: int) -> int:
    """64-bit seed of grid point ``index`` of figure ``figure`` (1: GD grid, 2: weight curve)."""
    return int(np.random.SeedSequence([seed, figure, index]).generate_state(1, dtype=np.uint64)[0])


def _draw(seed: int, pos_out: torch.Tensor, neg_out: torch.Tensor) -> None:
    """Standard normals of one grid point into preallocated (B,) and (B, K) float32 buffers."""
    g = torch.Generator().manual_seed(seed)
    torch.randn(pos_out.shape, generator=g, out=pos_out)
    torch.randn(neg_out.shape, generator=g, out=neg_out)


def sample_angles(
    mu_pos: float, mu_neg: float, batches: int, batch_size: int, pos_std: float, neg_std: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles of one grid point: positive (batches,) ~ N(μ_pos, σ_pos), negatives
    (batches, batch_size − 1) ~ N(μ_neg, σ_neg), float32 radians, from a generator seeded ``seed``."""
    pos, neg = torch.empty(batches), torch.empty(batches, batch_size - 1)
    _draw(seed, pos, neg)
    return pos.mul_(pos_std).add_(mu_pos), neg.mul_(neg_std).add_(mu_neg)


def _sample_chunk(points: Sequence[tuple[float, float, int]], cfg: SimulationConfig, pos_std: float):
    """:func:`sample_angles` of several points (μ_pos, μ_neg, seed), stacked: pos (P, B), neg (P, B, K)."""
    pos = torch.empty(len(points), cfg.batches)
    neg = torch.empty(len(points), cfg.batches, cfg.batch_size - 1)
    for k, (_, _, seed) in enumerate(points):
        _draw(seed, pos[k], neg[k])
    mu_pos = torch.tensor([p[0] for p in points], dtype=torch.float32)
    mu_neg = torch.tensor([p[1] for p in points], dtype=torch.float32)
    pos.mul_(pos_std).add_(mu_pos[:, None])
    neg.mul_(cfg.neg_std).add_(mu_neg[:, None, None])
    return pos, neg


def _chunk_points(cfg: SimulationConfig) -> int:
    per_point = cfg.batches * cfg.batch_size * 4 * 2  # angles (cosines in place) + one work buffer, float32
    return max(1, int(cfg.chunk_mb * 2**20 // per_point))


# ------------------------------------------------------------------------------- closed forms
class SampledAnchors(comp.AnchorSims):
    """Anchors of simulated batches given by angles, as the components' GD and R functions read
    them (:class:`lit_srl.losses.components.AnchorSims`).

    θ_ii (...,) the positive angles and θ_ij (..., K) the negatives' angles, radians; s = cos θ.
    ``theta_neg`` is overwritten in place (the memory-bound inner loop): it holds
    cos θ_ij − max_k cos θ_ik, from which the LSE at any τ is computed stably into a work buffer.
    """

    def __init__(self, theta_pos: torch.Tensor, theta_neg: torch.Tensor) -> None:
        self.theta_pos = theta_pos
        self.s_pos = torch.cos(theta_pos)
        gap = theta_neg.cos_()
        self.s_hardest = gap.amax(dim=-1)
        self._gap = gap.sub_(self.s_hardest.unsqueeze(-1))  # cos θ_ij − max_k cos θ_ik ≤ 0
        self._work: Optional[torch.Tensor] = None
        self._sums: dict[float, torch.Tensor] = {}

    def shifted_exp_sum(self, temperature: float) -> torch.Tensor:
        """Σ_j e^{(cos θ_ij − max_k cos θ_ik)/τ} (≥ 1): the inverse of the hardest negative's softmax weight."""
        if temperature not in self._sums:
            if self._work is None:
                self._work = torch.empty_like(self._gap)
            self._sums[temperature] = torch.mul(self._gap, 1.0 / temperature, out=self._work).exp_().sum(dim=-1)
        return self._sums[temperature]

    def negative_lse(self, temperature: float) -> torch.Tensor:
        return self.s_hardest / temperature + torch.log(self.shifted_exp_sum(temperature))


def gd_of(sims: comp.AnchorSims, cfg: SimulationConfig) -> dict[str, torch.Tensor]:
    """GD of the four losses, by the losses' own component functions (lit_srl.losses.components)."""
    return {
        "infonce": comp.gd_infonce(sims, cfg.temperature),
        "arccon": comp.gd_arccon(sims, cfg.temperature, cfg.arc_margin),
        "mpt": comp.gd_gate(sims, cfg.mpt_margin),
        "met": comp.gd_gate_euclidean(sims, cfg.met_margin),
    }


def gd_from_angles(pos: torch.Tensor, neg: torch.Tensor, cfg: SimulationConfig) -> dict[str, torch.Tensor]:
    """GD of the four losses per batch: angles pos (..., B), neg (..., B, K) -> {loss: (..., B)}."""
    return gd_of(SampledAnchors(pos, neg.clone()), cfg)


def grid_axes(cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """μ_pos (grid,) and μ_neg (grid,) in radians."""
    return np.linspace(*cfg.pos_range, cfg.grid), np.linspace(*cfg.neg_range, cfg.grid)


def simulate_gd(cfg: SimulationConfig) -> dict[str, np.ndarray]:
    """Mean GD per loss over the μ_pos × μ_neg grid: {loss: (grid, grid) array [i_pos, i_neg]}.

    Point (i, j) has index k = i·grid + j and seed ``point_seed(cfg.seed, 1, k)``.
    """
    mu_pos, mu_neg = grid_axes(cfg)
    total = cfg.grid * cfg.grid
    out = {name: np.empty(total) for name in LOSSES}
    step = _chunk_points(cfg)
    for start in range(0, total, step):
        ks = range(start, min(total, start + step))
        points = [(float(mu_pos[k // cfg.grid]), float(mu_neg[k % cfg.grid]), point_seed(cfg.seed, 1, k)) for k in ks]
        pos, neg = _sample_chunk(points, cfg, cfg.pos_std)
        for name, gd in gd_of(SampledAnchors(pos, neg), cfg).items():
            out[name][ks.start : ks.stop] = gd.double().mean(dim=1).numpy()
    return {name: values.reshape(cfg.grid, cfg.grid) for name, values in out.items()}


def simulate_weight(cfg: SimulationConfig) -> np.ndarray:
    """Mean hardest-negative softmax share per (τ, μ_neg): (len(temperatures), grid), NaN if no
    batch has GD ≥ ``gd_threshold``. μ_neg point k has seed ``point_seed(cfg.seed, 2, k)``."""
    mu_neg = np.linspace(*cfg.weight_neg_range, cfg.grid)
    out = np.empty((len(cfg.temperatures), cfg.grid))
    step = _chunk_points(cfg)
    for start in range(0, cfg.grid, step):
        ks = range(start, min(cfg.grid, start + step))
        points = [(cfg.weight_pos_mean, float(mu_neg[k]), point_seed(cfg.seed, 2, k)) for k in ks]
        pos, neg = _sample_chunk(points, cfg, cfg.pos_std)
        sims = SampledAnchors(pos, neg)
        for a, t in enumerate(cfg.temperatures):
            keep = (comp.gd_infonce(sims, t) >= cfg.gd_threshold).double()
            count = keep.sum(dim=-1)
            mean = (keep / sims.shifted_exp_sum(t).double()).sum(dim=-1) / count.clamp_min(1)
            out[a, ks.start : ks.stop] = torch.where(count > 0, mean, torch.full_like(mean, float("nan"))).numpy()
    return out


def ratio_maps(cfg: SimulationConfig) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{loss: (R, pos_farther, gd_off)}, each (grid, grid) over [i_pos, i_neg] (θ_ii, θ_ij).

    ArcCon: R = sin(θ_ii+u)/sin θ_ii, GD off where 1/(1 + e^{cos(θ_ii+u)/τ}/((B−1) e^{cos θ_ij/τ}))
    < gd_threshold. MET: R = d_ij/d_ii, GD off where d_ij − d_ii ≥ m (MET's d).
    """
    mu_pos, mu_neg = grid_axes(cfg)
    tii, tij = np.meshgrid(mu_pos, mu_neg, indexing="ij")
    farther = tii > tij
    negatives = torch.from_numpy(tij)[..., None].repeat(1, 1, cfg.batch_size - 1)  # all at θ_ij
    sims = SampledAnchors(torch.from_numpy(tii), negatives)
    gd_arc = comp.gd_arccon(sims, cfg.temperature, cfg.arc_margin).numpy()
    gd_met = comp.gd_gate_euclidean(sims, cfg.met_margin).numpy()
    return {
        "arccon": (comp.ratio_arccon(sims, cfg.arc_margin).numpy(), farther, gd_arc < cfg.gd_threshold),
        "met": (comp.ratio_met(sims).numpy(), farther, gd_met == 0),
    }


# -------------------------------------------------------------------------------- output
def _write_csv(path: Path, header: Sequence[str], rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _pi_ticks(ax, axis: str, lo: float, hi: float) -> None:
    ticks = np.linspace(lo, hi, 5)
    labels = [f"{t / math.pi:.2f}π" for t in ticks]
    if axis == "x":
        ax.set_xticks(ticks, labels)
    else:
        ax.set_yticks(ticks, labels)


def write_gd(cfg: SimulationConfig, gd: dict[str, np.ndarray], out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    mu_pos, mu_neg = grid_axes(cfg)
    rows = (
        (name, f"{mu_pos[i]:.6f}", f"{mu_neg[j]:.6f}", f"{mu_pos[i] / math.pi:.5f}", f"{mu_neg[j] / math.pi:.5f}", f"{gd[name][i, j]:.6f}")
        for name in LOSSES
        for i in range(cfg.grid)
        for j in range(cfg.grid)
    )
    _write_csv(out / "gd.csv", ("loss", "mu_pos_rad", "mu_neg_rad", "mu_pos_pi", "mu_neg_pi", "gd_mean"), rows)
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), constrained_layout=True)
    for ax, name in zip(axes, LOSSES):
        mesh = ax.pcolormesh(mu_neg, mu_pos, gd[name], shading="auto", vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{LOSS_TITLES[name]}: mean GD")
        ax.set_xlabel("μ_neg, mean negative angle (rad)")
        ax.set_ylabel("μ_pos, mean positive angle (rad)")
        _pi_ticks(ax, "x", *cfg.neg_range)
        _pi_ticks(ax, "y", *cfg.pos_range)
        fig.colorbar(mesh, ax=ax, label="GD (dimensionless, 0–1)")
    fig.suptitle(f"Gradient dissipation, {cfg.batches} batches of {cfg.batch_size} per point")
    fig.savefig(out / "gd.png", dpi=110)
    plt.close(fig)
    return [out / "gd.csv", out / "gd.png"]


def write_weight(cfg: SimulationConfig, w: np.ndarray, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    mu_neg = np.linspace(*cfg.weight_neg_range, cfg.grid)
    rows = (
        (f"{t:g}", f"{mu_neg[k]:.6f}", f"{mu_neg[k] / math.pi:.5f}", "nan" if np.isnan(w[a, k]) else f"{w[a, k]:.6f}")
        for a, t in enumerate(cfg.temperatures)
        for k in range(cfg.grid)
    )
    _write_csv(out / "weight.csv", ("temperature", "mu_neg_rad", "mu_neg_pi", "w_hardest"), rows)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for a, t in enumerate(cfg.temperatures):
        ax.plot(mu_neg, w[a], label=f"τ = {t:g}")
    ax.set_xlabel("μ_neg, mean negative angle (rad)")
    ax.set_ylabel("softmax weight of the hardest negative (share, 0–1)")
    _pi_ticks(ax, "x", *cfg.weight_neg_range)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"W of the hardest negative (θ_pos ~ N({cfg.weight_pos_mean:g} rad, {cfg.pos_std:g}), GD ≥ {cfg.gd_threshold:g})")
    ax.legend()
    fig.savefig(out / "weight.png", dpi=110)
    plt.close(fig)
    return [out / "weight.csv", out / "weight.png"]


def write_ratio(cfg: SimulationConfig, maps, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    mu_pos, mu_neg = grid_axes(cfg)

    def reason(farther: bool, off: bool) -> str:
        return "pos_farther" if farther else ("gd_off" if off else "")

    rows = (
        (name, f"{mu_pos[i]:.6f}", f"{mu_neg[j]:.6f}", f"{r[i, j]:.6f}", int(f[i, j] or o[i, j]), reason(f[i, j], o[i, j]))
        for name, (r, f, o) in maps.items()
        for i in range(cfg.grid)
        for j in range(cfg.grid)
    )
    _write_csv(out / "ratio.csv", ("loss", "theta_pos_rad", "theta_neg_rad", "ratio", "masked", "mask_reason"), rows)
    fig, axes = plt.subplots(1, len(maps), figsize=(12, 4.2), constrained_layout=True)
    for ax, (name, (r, f, o)) in zip(np.atleast_1d(axes), maps.items()):
        mesh = ax.pcolormesh(mu_neg, mu_pos, r, shading="auto", vmin=0, vmax=5, cmap="viridis")
        shade = np.where(f | o, 1.0, np.nan)
        ax.pcolormesh(mu_neg, mu_pos, shade, shading="auto", cmap="Greys", vmin=0, vmax=1.6, alpha=0.6)
        ax.set_title(f"{LOSS_TITLES[name]}: ratio R (shaded: θ_pos > θ_neg or GD off)")
        ax.set_xlabel("θ_neg = μ_neg, negative angle (rad)")
        ax.set_ylabel("θ_pos = μ_pos, positive angle (rad)")
        _pi_ticks(ax, "x", *cfg.neg_range)
        _pi_ticks(ax, "y", *cfg.pos_range)
        fig.colorbar(mesh, ax=ax, label="R (dimensionless)")
    fig.savefig(out / "ratio.png", dpi=110)
    plt.close(fig)
    return [out / "ratio.csv", out / "ratio.png"]


def run(cfg: SimulationConfig, output: Path, figures: Sequence[str] = FIGURES, overwrite: bool = False) -> dict:
    """Compute and write the requested figures; returns {figure: seconds}."""
    import matplotlib

    matplotlib.use("Agg")
    output = Path(output)
    targets = [output / f"{f}.{ext}" for f in figures for ext in ("csv", "png")]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise LitSrlError(f"{existing[0]} already exists; pass --overwrite or choose another --output")
    output.mkdir(parents=True, exist_ok=True)
    timing = {}
    for figure in figures:
        start = time.perf_counter()
        if figure == "gd":
            write_gd(cfg, simulate_gd(cfg), output)
        elif figure == "weight":
            write_weight(cfg, simulate_weight(cfg), output)
        else:
            write_ratio(cfg, ratio_maps(cfg), output)
        timing[figure] = time.perf_counter() - start
    return timing


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m lit_srl simulate",
        description="The §3.1 simulations of Li, Zhang & Nie (ACL 2024): GD heat-maps, hardest-negative "
        "weight vs temperature, ratio maps. Writes CSV + PNG per figure.",
    )
    d = SimulationConfig()
    p.add_argument("--output", default="simulation", help="output folder (default: simulation/)")
    p.add_argument("--figures", default=",".join(FIGURES), help="comma-separated subset of gd,weight,ratio")
    p.add_argument("--grid", type=int, default=d.grid, help="points per axis (paper: 100)")
    p.add_argument("--batches", type=int, default=d.batches, help="batches per grid point (paper: 1000)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="anchor batch size incl. the positive (paper: 128)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--temperature", type=float, default=d.temperature, help="τ of InfoNCE and ArcCon")
    p.add_argument("--arc-margin", type=float, default=d.arc_margin, help="ArcCon's angular margin u (rad)")
    p.add_argument("--mpt-margin", type=float, default=d.mpt_margin)
    p.add_argument("--met-margin", type=float, default=d.met_margin)
    p.add_argument("--chunk-mb", type=float, default=d.chunk_mb, help="memory budget of one chunk of grid points")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/PNG files")
    return p.parse_args(list(argv))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lit_srl simulate``."""
    args = _parse([] if argv is None else argv)
    figures = [f.strip() for f in args.figures.split(",") if f.strip()]
    for f in figures:
        if f not in FIGURES:
            raise LitSrlError(f"unknown figure {f!r} in --figures; valid: {','.join(FIGURES)}")
    if args.grid < 2 or args.batches < 1 or args.batch_size < 2:
        raise LitSrlError("--grid must be ≥ 2, --batches ≥ 1 and --batch-size ≥ 2")
    cfg = SimulationConfig(
        grid=args.grid, batches=args.batches, batch_size=args.batch_size, seed=args.seed,
        temperature=args.temperature, arc_margin=args.arc_margin, mpt_margin=args.mpt_margin,
        met_margin=args.met_margin, chunk_mb=args.chunk_mb,
    )
    timing = run(cfg, Path(args.output), figures, overwrite=args.overwrite)
    for figure, seconds in timing.items():
        print(f"{figure}: {seconds:.1f} s -> {Path(args.output) / figure}.csv, .png")
    return 0

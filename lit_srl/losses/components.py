"""The components GD, W, R of the unified gradient paradigm (Li, Zhang & Nie, ACL 2024, §3).

    ∂L_i/∂u_i = c · GD_i · Σ_{j≠i} W_ij (v_j − R_i v_i)

Component functions take a :class:`PairSims`: the (detached) cosine matrix S (n, M) of n anchors
(rows) against M candidates (columns), and ``pos`` (n,), the column of each anchor's positive;
"negatives" are all other columns. They return GD (n,), W (n, M) with W[i, pos_i] = 0, or R (n,).
GD and R read only per-anchor summaries (:class:`AnchorSims`: s_ii, max_{j≠i} s_ij, the LSE of
the negatives), so the simulations of sampled angles (:mod:`lit_srl.analysis.simulate`) call the
same functions.

The choices of :class:`~lit_srl.losses.assembled.AssembledLoss` are the tables :data:`GD`,
:data:`WEIGHT` and :data:`RATIO` (name → function of the cosines and the loss's settings): a new
choice is one function here and one table entry.

| loss    | GD_i                                           | W_ij                        | R_i                   |
|---------|------------------------------------------------|-----------------------------|-----------------------|
| InfoNCE | 1/(1 + e^{s_ii/τ} / Σ_{j≠i} e^{s_ij/τ})         | softmax_{j≠i}(s_ij/τ)       | 1                     |
| ArcCon  | 1/(1 + e^{cos(θ_ii+u)/τ} / Σ_{j≠i} e^{s_ij/τ})  | softmax_{j≠i}(s_ij/τ)       | sin(θ_ii+u)/sin θ_ii  |
| MPT     | 1[s_ii − max_{j≠i} s_ij < m]                    | one-hot(argmax_{j≠i} s_ij)  | 1                     |
| MET     | 1[min_{j≠i} d_ij − d_ii < m]                    | one-hot(j*)/d_ij*           | d_ij*/d_ii            |

with θ = arccos s and d = sqrt(max(2 − 2s, 1e-4)) (MET's floor; j* = argmin d = argmax s). Where
the floor is active (cosines above 0.99995) autograd gives no gradient, which the table ignores.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable, Protocol

import torch
from torch import Tensor

#: MET's squared-distance floor, as in the official code.
MET_EPS = 1e-4


# ------------------------------------------------------------ differentiable helpers
def positive_sim(s: Tensor, pos: Tensor) -> Tensor:
    """s[i, pos_i]: (n,)."""
    return s.gather(1, pos[:, None]).squeeze(1)


def fill_positive(s: Tensor, pos: Tensor, value: float) -> Tensor:
    """``s`` with each positive entry replaced by ``value`` (out of place, differentiable)."""
    return s.scatter(1, pos[:, None], value)


def hardest_negative(s: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
    """(max_{j≠i} s_ij, argmax): two (n,) tensors."""
    values, index = fill_positive(s, pos, float("-inf")).max(dim=1)
    return values, index


def met_distance(s: Tensor) -> Tensor:
    """d = sqrt(max(2 − 2s, 1e-4)), the Euclidean distance of unit vectors with MET's floor."""
    return (2 - 2 * s).clamp_min(MET_EPS).sqrt()


def nearest_negative_distance(s: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
    """(d_ii, min_{j≠i} d_ij): two (n,) tensors, differentiable (MET's closed form)."""
    d = met_distance(s)
    return positive_sim(d, pos), fill_positive(d, pos, float("inf")).min(dim=1).values


def safe_angle(s: Tensor) -> Tensor:
    """θ = arccos(s), s clamped inside (−1, 1) so that the gradient stays finite."""
    eps = torch.finfo(s.dtype).eps
    return torch.arccos(s.clamp(-1 + eps, 1 - eps))


def arc_logit(theta_pos: Tensor, margin: float) -> Tensor:
    """ArcCon's positive logit before 1/τ: cos(θ_ii + u)."""
    return torch.cos(theta_pos + margin)


class AnchorSims:
    """What the GD and R functions read of a batch of anchors: one entry per anchor (shape (n,),
    or any batch shape of the simulations).

    Subclasses give ``s_pos`` (s_ii, the positive's cosine), ``s_hardest`` (max_{j≠i} s_ij) and
    :meth:`negative_lse`; the rest is derived here once: θ_ii, MET's distances and a cache of the
    LSE per temperature. :class:`PairSims` reads them off a cosine matrix; the simulations
    (:mod:`lit_srl.analysis.simulate`) off sampled angles.
    """

    s_pos: Tensor
    s_hardest: Tensor

    def negative_lse(self, temperature: float) -> Tensor:  # pragma: no cover - abstract
        """LSE_{j≠i} s_ij/τ, computed (:meth:`lse` caches it)."""
        raise NotImplementedError

    def lse(self, temperature: float) -> Tensor:
        """LSE_{j≠i} s_ij/τ: one entry per anchor, computed once per τ."""
        cache = self.__dict__.setdefault("_lse", {})
        if temperature not in cache:
            cache[temperature] = self.negative_lse(temperature)
        return cache[temperature]

    @cached_property
    def theta_pos(self) -> Tensor:
        """θ_ii = arccos s_ii (clamped inside (−1, 1))."""
        return safe_angle(self.s_pos)

    @cached_property
    def d_pos(self) -> Tensor:
        """MET's d_ii."""
        return met_distance(self.s_pos)

    @cached_property
    def d_nearest(self) -> Tensor:
        """MET's min_{j≠i} d_ij, attained at the hardest (highest-cosine) negative."""
        return met_distance(self.s_hardest)


class PairSims(AnchorSims):
    """Detached cosines ``s`` (n, M) and positives ``pos`` (n,), with shared derived quantities
    computed once (each is an O(n·M) pass)."""

    def __init__(self, s: Tensor, pos: Tensor) -> None:
        self.s = s.detach()
        self.pos = pos
        self._logits: dict[float, Tensor] = {}

    @cached_property
    def s_pos(self) -> Tensor:
        return positive_sim(self.s, self.pos)

    @cached_property
    def negatives(self) -> Tensor:
        """s with −inf at the positives (a contiguous copy, also when s is a transpose)."""
        out = self.s.clone(memory_format=torch.contiguous_format)
        return out.scatter_(1, self.pos[:, None], float("-inf"))

    @cached_property
    def negative_mask(self) -> Tensor:
        """(n, M) bool, False at the positives."""
        return torch.ones_like(self.s, dtype=torch.bool).scatter_(1, self.pos[:, None], False)

    @cached_property
    def hardest(self) -> tuple[Tensor, Tensor]:
        """(max_{j≠i} s_ij, argmax)."""
        values, index = self.negatives.max(dim=1)
        return values, index

    @property
    def s_hardest(self) -> Tensor:
        return self.hardest[0]

    def rows(self, count: int) -> PairSims:
        """The first ``count`` anchors (e.g. the view-0 half of both directions stacked)."""
        return self if count == self.s.shape[0] else PairSims(self.s[:count], self.pos[:count])

    def logits(self, temperature: float) -> Tensor:
        if temperature not in self._logits:
            self._logits[temperature] = self.negatives / temperature
        return self._logits[temperature]

    def negative_lse(self, temperature: float) -> Tensor:
        return torch.logsumexp(self.logits(temperature), dim=1)

    def softmax(self, temperature: float) -> Tensor:
        """softmax_{j≠i}(s_ij/τ): (n, M), zero at the positives."""
        if temperature in self.__dict__.get("_lse", {}):
            return torch.exp(self.logits(temperature) - self.lse(temperature)[:, None])
        return torch.softmax(self.logits(temperature), dim=1)

    def one_hot(self, index: Tensor) -> Tensor:
        return torch.zeros_like(self.s).scatter_(1, index[:, None], 1.0)


# ------------------------------------------------------------------------------- GD
def gd_softmax(sims: AnchorSims, temperature: float, positive_logit: Tensor) -> Tensor:
    """1/(1 + e^{p_i/τ} / Σ_{j≠i} e^{s_ij/τ}) for a positive logit p (before 1/τ)."""
    return torch.sigmoid(sims.lse(temperature) - positive_logit / temperature)


def gd_infonce(sims: AnchorSims, temperature: float) -> Tensor:
    """InfoNCE's GD: the probability mass the softmax puts on the negatives."""
    return gd_softmax(sims, temperature, sims.s_pos)


def gd_arccon(sims: AnchorSims, temperature: float, margin: float) -> Tensor:
    """ArcCon's GD: as InfoNCE's with the positive logit cos(θ_ii + u)."""
    return gd_softmax(sims, temperature, arc_logit(sims.theta_pos, margin))


def gd_gate(sims: AnchorSims, margin: float) -> Tensor:
    """Cosine margin gate (MPT; the sg objective): 1[s_ii − max_{j≠i} s_ij < m]."""
    return (sims.s_pos - sims.s_hardest < margin).to(sims.s_pos.dtype)


def gd_gate_euclidean(sims: AnchorSims, margin: float) -> Tensor:
    """Euclidean margin gate (MET): 1[min_{j≠i} d_ij − d_ii < m]."""
    return (sims.d_nearest - sims.d_pos < margin).to(sims.s_pos.dtype)


def gd_none(sims: AnchorSims) -> Tensor:
    """1: no dissipation."""
    return torch.ones_like(sims.s_pos)


# -------------------------------------------------------------------------------- W
def weight_softmax(sims: PairSims, temperature: float) -> Tensor:
    """softmax_{j≠i}(s_ij/τ) (InfoNCE, ArcCon, sg)."""
    return sims.softmax(temperature)


def weight_hardest(sims: PairSims) -> Tensor:
    """One-hot on the hardest negative argmax_{j≠i} s_ij (MPT)."""
    return sims.one_hot(sims.hardest[1])


def weight_hardest_euclidean(sims: PairSims) -> Tensor:
    """(1/d_ij*) one-hot(j*), j* = argmin_{j≠i} d_ij (MET)."""
    return sims.one_hot(sims.hardest[1]) / sims.d_nearest[:, None]


def weight_uniform(sims: PairSims) -> Tensor:
    """1/(M − 1) on every negative."""
    w = fill_positive(torch.ones_like(sims.s), sims.pos, 0.0)
    return w / max(sims.s.shape[1] - 1, 1)


def weight_power(sims: PairSims, power: float) -> Tensor:
    """max(s_ij, 1e-4)^p normalised over j≠i (the official sg's ``power``; p = 0 is uniform).

    Deliberately unlike the official code, p may be any float ≥ 0, not only an integer.
    """
    w = fill_positive(sims.s.clamp_min(1e-4).pow(power), sims.pos, 0.0)
    return w / w.sum(dim=1, keepdim=True)


# -------------------------------------------------------------------------------- R
def ratio_constant(sims: AnchorSims, value: float) -> Tensor:
    """r, the same for every anchor."""
    return torch.full_like(sims.s_pos, value)


def ratio_arccon(sims: AnchorSims, margin: float) -> Tensor:
    """sin(θ_ii + u)/sin θ_ii."""
    return torch.sin(sims.theta_pos + margin) / torch.sin(sims.theta_pos)


def ratio_met(sims: AnchorSims) -> Tensor:
    """d_ij*/d_ii, j* the nearest negative."""
    return sims.d_nearest / sims.d_pos


# --------------------------------------------------------------------- the choice tables
class ComponentSettings(Protocol):
    """The settings the table entries read: :class:`~lit_srl.losses.assembled.AssembledLoss`'s
    arguments of the same names."""

    gd_temperature: float
    gd_margin: float
    arc_margin: float
    weight_temperature: float
    power: float
    ratio_value: float


Choice = Callable[[PairSims, ComponentSettings], Tensor]

#: GD choices of the assembled loss: name → GD (n,) from the cosines and the settings.
GD: dict[str, Choice] = {
    "none": lambda sims, cfg: gd_none(sims),
    "infonce": lambda sims, cfg: gd_infonce(sims, cfg.gd_temperature),
    "arccon": lambda sims, cfg: gd_arccon(sims, cfg.gd_temperature, cfg.arc_margin),
    "gate": lambda sims, cfg: gd_gate(sims, cfg.gd_margin),
    "gate_euclidean": lambda sims, cfg: gd_gate_euclidean(sims, cfg.gd_margin),
}

#: W choices: name → W (n, M), zero at the positives.
WEIGHT: dict[str, Choice] = {
    "softmax": lambda sims, cfg: weight_softmax(sims, cfg.weight_temperature),
    "hardest": lambda sims, cfg: weight_hardest(sims),
    "hardest_euclidean": lambda sims, cfg: weight_hardest_euclidean(sims),
    "uniform": lambda sims, cfg: weight_uniform(sims),
    "power": lambda sims, cfg: weight_power(sims, cfg.power),
}

#: R choices: name → R (n,).
RATIO: dict[str, Choice] = {
    "constant": lambda sims, cfg: ratio_constant(sims, cfg.ratio_value),
    "arccon": lambda sims, cfg: ratio_arccon(sims, cfg.arc_margin),
    "met": lambda sims, cfg: ratio_met(sims),
}

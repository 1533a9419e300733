"""Specifications of lit_srl.losses (Li, Zhang & Nie, ACL 2024; see docs/paper-notes.md).

Gradients are checked in float64 against the paradigm formula
    ∂L_i/∂u_i = c · GD_i · Σ_{j≠i} W_ij (v_j − R_i v_i),
pulled back through the normalisation: ∂L/∂h_i = (I − u_i u_iᵀ)/‖h_i‖ · ∂L/∂u_i.
"""

from __future__ import annotations

import importlib
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
import yaml

from support.helpers import REPO
from lit_srl.losses import components as comp
from lit_srl.losses import (
    MET,
    MHE,
    MHS,
    MPT,
    SG_OFFICIAL,
    STAT_KEYS,
    ArcCon,
    AssembledLoss,
    BarlowTwins,
    InfoNCE,
    SentenceLoss,
    VICReg,
    available_losses,
    build_loss,
)

PRESETS = REPO / "configs" / "loss"
COSINE_KEYS = {"cos_pos_mean", "cos_neg_mean", "cos_neg_max_mean"}
TOL = dict(rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- helpers
def views(n: int, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 raw embeddings (not unit norm). Rows cycle: positive close to the anchor (hinges
    inactive), positive opposite (hinges active), positive random."""
    g = torch.Generator().manual_seed(seed)
    scale = 0.5 + torch.rand(n, 1, generator=g, dtype=torch.float64)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    z2 = torch.randn(n, d, generator=g, dtype=torch.float64)
    kind = torch.arange(n) % 3
    z2[kind == 0] = z1[kind == 0] + 0.05 * noise[kind == 0] * z1[kind == 0].norm(dim=1, keepdim=True) / math.sqrt(d)
    z2[kind == 1] = -z1[kind == 1] + 0.5 * noise[kind == 1]
    return z1.requires_grad_(), z2.requires_grad_()


def clustered_views(n: int, d: int = 16, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 views where the first rows come in near-duplicate pairs (in-view gates open there)."""
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    pairs = max(1, n // 4)
    z1[1 : 2 * pairs : 2] = z1[0 : 2 * pairs : 2] + 0.1 * torch.randn(pairs, d, generator=g, dtype=torch.float64)
    z2 = z1 + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return z1.requires_grad_(), z2.requires_grad_()


def grad_z1(value: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    return torch.autograd.grad(value, z1, retain_graph=True)[0]


def pull_back(grad_u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(I − u uᵀ)/‖z‖ applied row-wise."""
    z = z.detach()
    u = F.normalize(z, dim=-1)
    return (grad_u - u * (u * grad_u).sum(1, keepdim=True)) / z.norm(dim=1, keepdim=True)


def paradigm_grad(z1, z2, gd, weight, ratio, scale):
    """The formula's gradient w.r.t. z1 of scale · mean_i L_i (one direction, columns = view 1)."""
    v = F.normalize(z2.detach(), dim=-1)
    grad_u = gd[:, None] * (weight @ v - (ratio * weight.sum(1))[:, None] * v) * scale / z1.shape[0]
    return pull_back(grad_u, z1)


CLOSED_FORMS = {"infonce": InfoNCE, "arccon": ArcCon, "mpt": MPT, "met": MET}


# ------------------------------------------------------------ the four contrastive losses
@pytest.mark.parametrize("n", [2, 5, 64])
@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_closed_form_gradient_equals_paradigm_formula_with_its_components(name, n):
    loss = CLOSED_FORMS[name]()
    z1, z2 = views(n)
    c = loss.components(z1, z2)
    if name in ("mpt", "met"):  # both sides of the hinge are exercised
        assert 0 < c.gd.sum() < n
    expected = paradigm_grad(z1, z2, c.gd, c.weight, c.ratio, c.constant)
    torch.testing.assert_close(grad_z1(loss(z1, z2).loss, z1), expected, **TOL)


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_components_have_the_documented_shapes_and_a_zero_diagonal(name):
    z1, z2 = views(7)
    c = CLOSED_FORMS[name]().components(z1, z2)
    assert c.gd.shape == (7,) and c.ratio.shape == (7,) and c.weight.shape == (7, 7)
    assert torch.all(c.weight.diagonal() == 0)
    assert not c.gd.requires_grad and not c.weight.requires_grad


def test_components_follow_the_table_of_the_notes():
    z1, z2 = views(6)
    u, v = F.normalize(z1.detach(), dim=-1), F.normalize(z2.detach(), dim=-1)
    s = u @ v.T
    eye = torch.eye(6, dtype=torch.bool)
    tau, arc = 0.05, math.pi / 18
    neg = torch.exp(s / tau).masked_fill(eye, 0).sum(1)
    c = InfoNCE().components(z1, z2)
    torch.testing.assert_close(c.gd, 1 / (1 + torch.exp(s.diag() / tau) / neg))
    assert c.constant == pytest.approx(1 / tau)
    theta = torch.arccos(s.diag())
    c = ArcCon().components(z1, z2)
    torch.testing.assert_close(c.gd, 1 / (1 + torch.exp(torch.cos(theta + arc) / tau) / neg))
    torch.testing.assert_close(c.ratio, torch.sin(theta + arc) / torch.sin(theta))
    d = torch.sqrt(torch.clamp_min(2 - 2 * s, 1e-4))
    nearest, j = d.masked_fill(eye, math.inf).min(1)
    c = MET().components(z1, z2)
    torch.testing.assert_close(c.ratio, nearest / d.diag())
    torch.testing.assert_close(c.weight[torch.arange(6), j], 1 / nearest)
    torch.testing.assert_close(c.gd, (nearest - d.diag() < 0.45).double())


# ------------------------------------------------------------------ the assembled loss
@pytest.mark.parametrize("n", [2, 5, 64])
@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_assembled_loss_with_a_losses_components_reproduces_its_anchor_gradient(name, n):
    loss = CLOSED_FORMS[name]()
    z1, z2 = views(n)
    torch.testing.assert_close(grad_z1(loss.as_assembled()(z1, z2).loss, z1), grad_z1(loss(z1, z2).loss, z1), **TOL)


@pytest.mark.parametrize(
    "gd,weight,ratio",
    list(itertools.product(comp.GD, comp.WEIGHT, comp.RATIO)),
)
def test_assembled_gradient_is_the_paradigm_formula_for_every_component_choice(gd, weight, ratio):
    loss = AssembledLoss(gd=gd, weight=weight, ratio=ratio, ratio_value=1.3, power=2.0, scale=0.7)
    z1, z2 = views(9)
    c = loss.components(z1, z2)
    expected = paradigm_grad(z1, z2, c.gd, c.weight, c.ratio, c.constant)
    torch.testing.assert_close(grad_z1(loss(z1, z2).loss, z1), expected, **TOL)


def test_assembled_loss_sends_gradient_to_the_anchors_only_when_the_positive_is_detached():
    z1, z2 = views(8)
    loss = AssembledLoss(gd="infonce", ratio="arccon")
    grad1, grad2 = torch.autograd.grad(loss(z1, z2).loss, (z1, z2), allow_unused=True)
    assert grad2 is None and grad1.abs().sum() > 0  # view 1 is not even in the graph
    symmetric = AssembledLoss(gd="infonce", ratio="arccon", symmetric=True)
    c = symmetric.components(z2, z1)  # view-1 anchors against view-0 columns
    expected = paradigm_grad(z2, z1, c.gd, c.weight, c.ratio, c.constant) / 2
    torch.testing.assert_close(torch.autograd.grad(symmetric(z1, z2).loss, z2)[0], expected, **TOL)


def test_official_sg_pulls_the_anchor_from_both_directions():
    """sg: (U, V.detach()) + (V, U.detach()), each the mean over kept entries, positive not
    detached: the reverse direction adds −r·g'_i·v_i/(K'N) to ∂L/∂u_i (effective ratio ≈ 2r)."""
    n, r = 12, 1.0
    z1, z2 = views(n)
    loss = build_loss("sg")
    c0 = loss.components(z1, z2)  # rows view 0, constant = scale/K0
    c1 = loss.components(z2, z1)  # rows view 1
    assert 0 < c0.gd.sum() < n
    v = F.normalize(z2.detach(), dim=-1)
    half = 0.5  # symmetric = average; scale 2 makes it the official sum
    grad_u = half * c0.constant / n * c0.gd[:, None] * (c0.weight @ v - r * c0.weight.sum(1, keepdim=True) * v)
    grad_u = grad_u - half * c1.constant / n * (c1.gd * r * c1.weight.sum(1))[:, None] * v
    torch.testing.assert_close(grad_z1(loss(z1, z2).loss, z1), pull_back(grad_u, z1), **TOL)


def test_official_sg_value_is_the_sum_of_both_directions_means_over_kept_entries():
    z1, z2 = views(10)
    u, v = F.normalize(z1.detach(), dim=-1), F.normalize(z2.detach(), dim=-1)
    eye = torch.eye(10, dtype=torch.bool)
    a = u @ v.T
    total = 0.0
    for s in (a, a.T):
        keep = s.diag() - s.masked_fill(eye, -math.inf).max(1).values < 0.30
        w = torch.softmax(s.masked_fill(eye, -math.inf) / 0.05, dim=1)
        target = s - s.diag()[:, None]
        total = total + (w * target)[keep].mean()
    torch.testing.assert_close(build_loss("sg")(z1, z2).loss, total)


# ------------------------------------------------------------ non-contrastive objectives
def textbook_barlow_twins(z1, z2, lambd):
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    c = u.T @ v / u.shape[0]
    off = c - torch.diag(c.diag())
    return ((1 - c.diag()) ** 2).sum() + lambd * (off**2).sum()


def textbook_vicreg(z1, z2, lambd):
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    n = u.shape[0]
    align = ((u - v) ** 2).sum(1).mean()
    return align + lambd / 2 * ((u.T @ u / n).pow(2).sum() + (v.T @ v / n).pow(2).sum())


@pytest.mark.parametrize("n", [5, 64])
@pytest.mark.parametrize(
    "loss,textbook",
    [(BarlowTwins(), textbook_barlow_twins), (VICReg(), textbook_vicreg)],
    ids=["barlowtwins", "vicreg"],
)
def test_ori_surrogate_has_the_gradient_of_the_textbook_loss(loss, textbook, n):
    z1, z2 = views(n)
    got = torch.autograd.grad(loss(z1, z2).loss, (z1, z2))
    want = torch.autograd.grad(textbook(z1, z2, loss.lambd), (z1, z2))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **TOL)


def _lse_lower(s):
    return torch.logsumexp(s[torch.tril(torch.ones_like(s, dtype=torch.bool), diagonal=-1)], dim=0)


def _in_view_gate(x, m=0.30):
    eye = torch.eye(x.shape[0], dtype=torch.bool)
    keep = 1 - (x.detach() @ x.detach().T).masked_fill(eye, -math.inf).max(1).values < m
    return torch.where(keep[:, None], x, x.detach()), keep


def reference_mhe(z1, z2, lambd, mod, tau=0.05, r=1.75):
    """Notes §5, MHE, with all pairs written out."""
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    if mod:
        (u, _), (v, _) = _in_view_gate(u), _in_view_gate(v)
    align = 2 - 2 * (u * v).sum(1)
    if not mod:
        return align.mean() + lambd * (_lse_lower(u @ u.T) + _lse_lower(v @ v.T))
    eye = torch.eye(u.shape[0], dtype=torch.bool)
    total = 0
    weights = 0
    for x in (u, v):
        s = x @ x.T / tau
        uni = _lse_lower(s)
        weights = weights + (torch.logsumexp(s.detach().masked_fill(eye, -math.inf), 1) - uni.detach()).exp() / tau
        total = total + lambd * uni
    return total + (align * weights * r / 2).sum()


def reference_mhs(z1, z2, lambd, mod, r=1.75):
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    if mod:
        (u, _), (v, _) = _in_view_gate(u), _in_view_gate(v)
    eye = torch.eye(u.shape[0], dtype=torch.bool)
    align = 2 - 2 * (u * v).sum(1)
    total = 0
    for a, b in ((u, v), (v, u)):
        dist = ((a[:, None] - b.detach()[None]) ** 2).sum(-1).add(1e-4).sqrt()
        nearest = dist.masked_fill(eye, math.inf).min(1).values
        total = total - lambd * nearest.mean()
        total = total + (align * (r / nearest.detach() if mod else 1.0) / 2).mean()
    return total


def reference_second_moment_mod(z1, z2, other_view, lambd=1.0, tau=0.05, r=1.5):
    """Notes §5, VICReg-mod / Barlow-Twins-mod, diagonal weight kept as in the official code."""
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    (u, _), (v, _) = _in_view_gate(u), _in_view_gate(v)
    eye = torch.eye(u.shape[0], dtype=torch.bool)
    total = 0
    for a, b in ((u, v), (v, u)):
        src = (b if other_view else a).detach()
        w = torch.exp(src @ src.T / tau)
        w = w / w.masked_fill(eye, 0).sum()
        neg = (w * (a @ a.detach().T)).sum(1)
        pos = lambd * r * w.masked_fill(eye, 0).sum(1) * -(a * b).sum(1)
        total = total + (pos + lambd * neg).sum()
    return total


@pytest.mark.parametrize("n", [6, 32])
@pytest.mark.parametrize("name", ["mhe", "mhe_mod", "mhs", "mhs_mod"])
def test_mhe_and_mhs_equal_the_notes_formulas_in_value_and_gradient(name, n):
    z1, z2 = clustered_views(n)
    loss = build_loss(name)
    ref = {"mhe": reference_mhe, "mhs": reference_mhs}[name[:3]](z1, z2, loss.lambd, mod=name.endswith("_mod"))
    out = loss(z1, z2)
    if name.endswith("_mod"):
        assert 0 < out.stats["gd_mean"] < 1  # the gate is open for some rows only
    torch.testing.assert_close(out.loss, ref, **TOL)
    for g, w in zip(torch.autograd.grad(out.loss, (z1, z2)), torch.autograd.grad(ref, (z1, z2))):
        torch.testing.assert_close(g, w, **TOL)


@pytest.mark.parametrize("n", [6, 32])
@pytest.mark.parametrize("name", ["vicreg_mod", "barlowtwins_mod"])
def test_vicreg_and_barlow_twins_mod_have_the_gradient_of_the_notes_formulas(name, n):
    z1, z2 = clustered_views(n)
    loss = build_loss(name)
    ref = reference_second_moment_mod(z1, z2, other_view=name.startswith("barlow"))
    got = torch.autograd.grad(loss(z1, z2).loss, (z1, z2))
    want = torch.autograd.grad(ref, (z1, z2))
    for g, w in zip(got, want):  # the official W_ii term differs only by float64 rounding
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-9)


def test_cross_view_gate_compares_the_positive_with_the_hardest_negative():
    z1, z2 = views(12)
    u, v = F.normalize(z1.detach(), dim=-1), F.normalize(z2.detach(), dim=-1)
    eye = torch.eye(12, dtype=torch.bool)
    keeps = []
    for s in (u @ v.T, v @ u.T):
        keeps.append(s.diag() - s.masked_fill(eye, -math.inf).max(1).values < 0.3)
    expected = torch.cat(keeps).double().mean()
    assert 0 < expected < 1
    assert build_loss("mhe_mod", gate="cross_view")(z1, z2).stats["gd_mean"] == expected


def test_gated_rows_get_no_gradient():
    z1, z2 = clustered_views(16)
    _, keep = _in_view_gate(F.normalize(z1.detach(), dim=-1))
    assert keep.any() and not keep.all()
    grad = torch.autograd.grad(build_loss("vicreg_mod")(z1, z2).loss, z1)[0]
    assert torch.all(grad[~keep] == 0) and torch.all(grad[keep].abs().sum(1) > 0)


# ------------------------------------------------------------------------ the interface
def test_build_loss_knows_every_name_and_returns_a_sentence_loss_with_finite_loss_and_its_stats():
    # every preset, plus the classes the presets name (AssembledLoss is also "assembled")
    assert set(available_losses()) == {p.stem for p in PRESETS.glob("*.yaml")} | {"assembled"}
    z1, z2 = torch.randn(16, 32), torch.randn(16, 32)
    for name in available_losses():
        loss = build_loss(name)
        assert isinstance(loss, SentenceLoss) and isinstance(loss, torch.nn.Module)
        out = loss(z1, z2)
        assert out.loss.dim() == 0 and torch.isfinite(out.loss)
        assert tuple(out.stats) == loss.stat_keys() and set(out.stats) <= set(STAT_KEYS)
        for v in out.stats.values():
            assert v.dim() == 0 and not v.requires_grad and torch.isfinite(v)
        if name in ("barlowtwins", "vicreg", "mhe", "mhs"):
            assert set(out.stats) == COSINE_KEYS  # no analytic GD/W/R: omitted, not invented
        elif name.endswith("_mod"):
            assert {"gd_mean", "ratio_mean"} <= set(out.stats)
        else:
            assert set(out.stats) == set(STAT_KEYS)


def test_mod_switch_selects_the_mod_form():
    assert build_loss("vicreg", mod=True).init_args == build_loss("vicreg_mod").init_args
    assert build_loss("mhe_mod", mod=False).init_args == build_loss("mhe").init_args


def test_similarities_are_float32_for_low_precision_inputs_and_float64_stays_float64():
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    for name in available_losses():
        assert build_loss(name)(z1.bfloat16(), z2.bfloat16()).loss.dtype == torch.float32
        assert build_loss(name)(z1.double(), z2.double()).loss.dtype == torch.float64


def test_init_args_rebuild_the_loss_from_its_importable_class_path():
    for name in available_losses():
        loss = build_loss(name, gather_across_devices=False)
        cls = type(loss)
        assert cls.__module__ == "lit_srl.losses"
        module = importlib.import_module(cls.__module__)
        rebuilt = getattr(module, cls.__qualname__)(**loss.init_args)
        assert rebuilt.init_args == loss.init_args and type(rebuilt) is cls
        assert all(isinstance(v, (bool, int, float, str)) for v in loss.init_args.values())


@pytest.mark.parametrize(
    "build",
    [
        lambda: InfoNCE(temperature=0.0),
        lambda: InfoNCE(temperature=-0.05),
        lambda: ArcCon(margin=-0.1),
        lambda: MPT(margin=-0.23),
        lambda: MET(margin=-1.0),
        lambda: AssembledLoss(gd="soft"),
        lambda: AssembledLoss(weight="linear"),
        lambda: AssembledLoss(ratio="golden"),
        lambda: AssembledLoss(weight_temperature=0),
        lambda: AssembledLoss(reduction="sum"),
        lambda: MHE(gate="always"),
        lambda: MHE(temperature=0),
        lambda: MHS(margin=-0.3),
        lambda: VICReg(lambd=-1),
        lambda: build_loss("simclr"),
        lambda: build_loss("infonce", mod=True),
        lambda: build_loss("infonce", tau=0.05),
    ],
)
def test_bad_parameters_raise_value_error_listing_the_valid_choices(build):
    with pytest.raises(ValueError, match="valid") as info:
        build()
    assert "\n" not in str(info.value)


def test_unknown_component_message_lists_every_choice():
    with pytest.raises(ValueError, match="none, infonce, arccon, gate, gate_euclidean"):
        AssembledLoss(gd="soft")
    with pytest.raises(ValueError, match="infonce, arccon, mpt, met"):
        build_loss("nope")


# ---------------------------------------------------------------------------- presets
#: the presets are the files of configs/loss/ (their one home; the registry reads them too)
PRESET_NAMES = sorted(p.stem for p in PRESETS.glob("*.yaml"))


def test_every_preset_is_a_loss_name():
    assert PRESET_NAMES and set(PRESET_NAMES) <= set(available_losses())


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_loads_instantiates_and_matches_build_loss(name):
    text = (PRESETS / f"{name}.yaml").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# ") and not lines[1].startswith("#")
    spec = yaml.safe_load(text)["model"]["loss"]
    assert set(yaml.safe_load(text)) == {"model"} and set(yaml.safe_load(text)["model"]) == {"loss"}
    assert "lr" not in spec["init_args"]
    module_name, _, cls_name = spec["class_path"].rpartition(".")
    loss = getattr(importlib.import_module(module_name), cls_name)(**spec["init_args"])
    assert isinstance(loss, SentenceLoss)
    assert loss.init_args == build_loss(name).init_args


def test_presets_parse_with_jsonargparse_like_lightning_cli():
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser()
    parser.add_subclass_arguments(SentenceLoss, "model.loss")
    for name in PRESET_NAMES:
        cfg = parser.parse_path(str(PRESETS / f"{name}.yaml"))
        loss = parser.instantiate_classes(cfg).model.loss
        assert loss.init_args == build_loss(name).init_args


def test_sg_preset_is_the_official_configuration():
    spec = yaml.safe_load((PRESETS / "sg.yaml").read_text())["model"]["loss"]
    assert spec["class_path"] == "lit_srl.losses.AssembledLoss"
    assert {k: spec["init_args"][k] for k in SG_OFFICIAL} == SG_OFFICIAL


def test_similarities_stay_float32_under_autocast():
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    for name in available_losses():
        loss = build_loss(name)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = loss(z1, z2)
        assert out.loss.dtype == torch.float32
        torch.testing.assert_close(out.loss, loss(z1, z2).loss)


def test_losses_survive_pickling_and_deepcopy():
    import copy
    import pickle

    for name in available_losses():
        loss = build_loss(name)
        for clone in (pickle.loads(pickle.dumps(loss)), copy.deepcopy(loss)):
            assert type(clone) is type(loss) and clone.init_args == loss.init_args

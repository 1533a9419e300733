"""A sweep's file axis may glob its config files (lit_srl.sweep.spec): one point per file, labelled
by its stem, loss names in the loss registry's (the paper's) order, other labels after them by name."""

from __future__ import annotations

import pytest

from support.helpers import REPO
from lit_srl.errors import LitSrlError
from lit_srl.sweep.spec import load_sweep
from support.sweep_helpers import write_sweep

LOSS_GLOB = str(REPO / "configs" / "loss" / "*.yaml")


def objective_runs(tmp_path, axis: dict) -> dict:
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", {"grid": {"objective": axis}}))
    return {run.name: run.configs for run in sweep.runs}


def test_a_globbed_axis_has_a_point_per_preset_in_the_papers_order(tmp_path):
    runs = objective_runs(tmp_path, {"glob": LOSS_GLOB, "exclude": ["sg"]})
    assert list(runs) == ["infonce", "arccon", "mpt", "met", "barlowtwins", "barlowtwins_mod", "vicreg",
                          "vicreg_mod", "mhe", "mhe_mod", "mhs", "mhs_mod"]
    assert runs["arccon"] == (str(REPO / "configs" / "loss" / "arccon.yaml"),)


def test_labels_that_are_not_losses_come_after_by_name(tmp_path):
    (tmp_path / "objectives").mkdir()
    for name in ("zeta", "alpha", "infonce"):
        (tmp_path / "objectives" / f"{name}.yaml").write_text("seed_everything: 1\n")
    assert list(objective_runs(tmp_path, {"glob": str(tmp_path / "objectives" / "*.yaml")})) == ["infonce", "alpha", "zeta"]


def test_configs_templates_give_each_point_its_files(tmp_path):
    paper = REPO / "configs" / "paper" / "roberta_base"
    runs = objective_runs(tmp_path, {"glob": str(paper / "*.yaml"),
                                     "configs": [str(REPO / "configs" / "loss" / "{label}.yaml"), str(paper / "{label}.yaml")]})
    assert len(runs) == 8 and runs["mhs_mod"] == (str(REPO / "configs" / "loss" / "mhs_mod.yaml"), str(paper / "mhs_mod.yaml"))


@pytest.mark.parametrize("axis, message", [
    ({"glob": "nowhere/*.yaml"}, "nowhere/*.yaml matches no config file"),
    ({"glob": LOSS_GLOB, "exclude": ["simclr"]}, "exclude names 'simclr'"),
    ({"glob": LOSS_GLOB, "only": ["sg"]}, "a globbed file axis has keys glob, exclude, configs"),
    ({"glob": LOSS_GLOB, "configs": ["configs/loss/{label}_v2.yaml"]}, "config file configs/loss/infonce_v2.yaml does not exist"),
])
def test_a_bad_globbed_axis_is_one_line_naming_the_problem(tmp_path, axis, message):
    with pytest.raises(LitSrlError, match=message.replace("*", r"\*").replace("(", r"\(")) as info:
        objective_runs(tmp_path, axis)
    assert "\n" not in str(info.value)

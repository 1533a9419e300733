"""The ACL 2024 paper's recipes, per-objective settings and sweep files resolve to the paper's values.

Expected values: ../shared/docs/paper-notes.md §4–6 (the released scripts' hyperparameters).
Configs are resolved with ``fit --print_config`` (nothing is instantiated: no hub, no data).
"""

from __future__ import annotations

import inspect
import itertools
import math

import pytest
import yaml

from support.helpers import REPO, fit_args, print_config, read_scalars, run_cli
from lit_srl.losses import AssembledLoss
from lit_srl.sweep.spec import load_sweep

SWEEPS = REPO / "configs" / "sweeps"

TAU = {"temperature": 0.05, "exp_weights": True}  # the mod losses' exponential weights, τ 0.05
# paper notes §5 table, bert-base-uncased (batch 128); InfoNCE/ArcCon/MPT/MET: SimCSE's lr 3e-5, batch 64
BERT = {
    "infonce": (3e-5, 64, "InfoNCE", {"temperature": 0.05}),
    "arccon": (3e-5, 64, "ArcCon", {"temperature": 0.05, "margin": math.pi / 18}),
    "mpt": (3e-5, 64, "MPT", {"margin": 0.23}),
    "met": (3e-5, 64, "MET", {"margin": 0.45}),
    "barlowtwins": (1e-5, 128, "BarlowTwins", {"lambd": 30.0, "gate": "none", "explicit_ratio": False}),
    "barlowtwins_mod": (1e-5, 128, "BarlowTwins", {"lambd": 1.0, "gate": "in_view", "margin": 0.30, **TAU, "ratio": 1.50}),
    "vicreg": (1e-5, 128, "VICReg", {"lambd": 30.0, "gate": "none", "explicit_ratio": False}),
    "vicreg_mod": (1e-5, 128, "VICReg", {"lambd": 1.0, "gate": "in_view", "margin": 0.30, **TAU, "ratio": 1.50}),
    "mhe": (1e-5, 128, "MHE", {"lambd": 10.0, "gate": "none", "explicit_ratio": False}),
    "mhe_mod": (1e-5, 128, "MHE", {"lambd": 1.0, "gate": "in_view", "margin": 0.30, **TAU, "ratio": 1.75}),
    "mhs": (5e-6, 128, "MHS", {"lambd": 1.0, "gate": "none", "explicit_ratio": False}),
    "mhs_mod": (1e-5, 128, "MHS", {"lambd": 1.0, "gate": "in_view", "margin": 0.30, "ratio": 1.75}),
}
# paper notes §5 table, roberta-base (batch 512)
ROBERTA = {
    "barlowtwins": (1e-6, "BarlowTwins", {"lambd": 30.0, "gate": "none"}),
    "barlowtwins_mod": (1e-5, "BarlowTwins", {"lambd": 1.0, "margin": 0.37, **TAU, "ratio": 1.25}),
    "vicreg": (1e-6, "VICReg", {"lambd": 30.0, "gate": "none"}),
    "vicreg_mod": (1e-5, "VICReg", {"lambd": 1.0, "margin": 0.37, **TAU, "ratio": 1.25}),
    "mhe": (1e-6, "MHE", {"lambd": 10.0, "gate": "none"}),
    "mhe_mod": (1e-5, "MHE", {"lambd": 1.0, "margin": 0.30, **TAU, "ratio": 1.25}),
    "mhs": (1e-6, "MHS", {"lambd": 1.0, "gate": "none"}),
    "mhs_mod": (1e-5, "MHS", {"lambd": 1.0, "margin": 0.27, "ratio": 1.00}),
}


resolved = print_config


@pytest.fixture
def in_repo(monkeypatch):
    """Sweep files name their configs relative to the repository root."""
    monkeypatch.chdir(REPO)


def sweep(name: str) -> dict:
    return yaml.safe_load((SWEEPS / f"{name}.yaml").read_text())


def grid_points(spec: dict) -> list[dict]:
    """The runs of a sweep's grid (a mapping or a list of mappings): axis → value or label."""
    grids = spec["grid"] if isinstance(spec["grid"], list) else [spec["grid"]]
    points = []
    for grid in grids:
        axes = {k: (list(v) if isinstance(v, dict) else v) for k, v in grid.items() if k != "label"}
        for combo in itertools.product(*axes.values()):
            points.append(dict(zip(axes, combo)))
    return points


def check_loss(config: dict, cls: str, init_args: dict) -> None:
    assert config["model"]["loss"]["class_path"] == f"lit_srl.losses.{cls}"
    got = config["model"]["loss"]["init_args"]
    for key, value in init_args.items():
        assert got[key] == pytest.approx(value) if isinstance(value, float) else got[key] == value, key


def test_bert_recipe_is_the_released_code_setting():
    config = resolved("configs/paper_bert_base.yaml")
    trainer, model, data = config["trainer"], config["model"], config["data"]
    assert (model["backbone"], model["pooler"], model["head"]) == ("bert-base-uncased", "cls", "linear")
    assert model["freeze_embeddings"] is True and model["head_at_eval"] is False
    assert (model["lr"], model["weight_decay"], model["warmup_steps"]) == (1e-5, 0.0, 0)
    assert (trainer["gradient_clip_val"], trainer["gradient_clip_algorithm"]) == (1.0, "norm")
    assert (trainer["max_epochs"], trainer["max_steps"], trainer["val_check_interval"]) == (1, -1, 125)
    assert trainer["check_val_every_n_epoch"] is None and trainer["precision"] == "32-true"
    assert [c["class_path"] for c in trainer["callbacks"]] == [
        "lit_srl.callbacks.LearningRateMonitor",
        "lit_srl.callbacks.GradientComponentMonitor",
    ]
    assert data["train_files"] == "corpus/wiki1m_for_simcse.txt"
    assert (data["batch_size"], data["max_length"]) == (128, 32)
    assert (data["order"], data["drop_last"]) == ("permutation", False)  # HF Trainer: RandomSampler, last batch kept
    assert config["seed_everything"] == 42


def test_roberta_recipe_differs_in_backbone_head_batch_and_validation_interval():
    bert, roberta = resolved("configs/paper_bert_base.yaml"), resolved("configs/paper_roberta_base.yaml")
    assert (roberta["model"]["backbone"], roberta["model"]["head"]) == ("roberta-base", "tanh_linear")
    assert (roberta["data"]["batch_size"], roberta["trainer"]["val_check_interval"]) == (512, 50)
    for section in ("trainer", "model", "data"):
        differ = {k for k in bert[section] if bert[section][k] != roberta[section][k]}
        assert differ <= {"default_root_dir", "backbone", "head", "batch_size", "val_check_interval"}, section


@pytest.mark.parametrize("label", ["infonce", "arccon", "mpt", "met"])
def test_simcse_exact_recipe_gives_the_contrastive_objectives_simcse_s_head_unfrozen(label):
    files = ("configs/paper_bert_base.yaml", f"configs/loss/{label}.yaml")
    paper = resolved(*files, f"configs/paper/bert_base/{label}.yaml")
    simcse = resolved(*files, "configs/paper/simcse_exact_bert_base.yaml")
    assert (simcse["model"]["head"], simcse["model"]["freeze_embeddings"], simcse["model"]["head_at_eval"]) == ("mlp", False, False)
    assert (simcse["model"]["lr"], simcse["data"]["batch_size"]) == (pytest.approx(3e-5), 64)
    assert simcse["model"]["loss"] == paper["model"]["loss"]
    differ = {(section, k) for section in ("trainer", "model", "data") for k in paper[section]
              if paper[section][k] != simcse[section][k]}
    assert differ == {("model", "head"), ("model", "freeze_embeddings")}


def test_the_paper_recipe_with_clipping_gets_fused_adamw_in_either_precision(tiny_bert):
    """The paper recipe (32-true, clipping at 1.0) and its bf16-mixed option both step with fused
    AdamW: lit_srl clips on the device itself (lit_srl.optimization), where Lightning's
    mixed-precision plugin would refuse to clip an optimizer that unscales its own gradients."""
    import lightning as L

    from lit_srl.model import SentenceEmbeddingModule

    trainer_config = resolved("configs/paper_bert_base.yaml")["trainer"]
    fused = {}
    for precision in (trainer_config["precision"], "bf16-mixed"):
        module = SentenceEmbeddingModule(backbone=str(tiny_bert))
        module._trainer = L.Trainer(precision=precision, gradient_clip_val=trainer_config["gradient_clip_val"],
                                    accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
        module.total_training_steps = lambda: 10  # only the optimizer is looked at
        fused[precision] = bool(module.configure_optimizers()["optimizer"].defaults["fused"])
    assert fused == {"32-true": True, "bf16-mixed": True}


def objectives(name: str) -> dict[str, tuple[str, ...]]:
    """A sweep's objective axis as its runs compose it: label → config files (seed 1's runs)."""
    runs = [run for run in load_sweep(SWEEPS / f"{name}.yaml").runs if run.axes["seed_everything"] == 1]
    return {run.axes["objective"]: run.configs for run in runs}


def test_figure1_bert_sweep_composes_each_objective_with_the_papers_settings(in_repo):
    spec = sweep("paper_figure1_bert_base")
    assert spec["configs"] == ["configs/paper_bert_base.yaml"]
    assert spec["grid"]["seed_everything"] == [1, 2, 3] and len(load_sweep(SWEEPS / "paper_figure1_bert_base.yaml").runs) == 36
    found = objectives("paper_figure1_bert_base")
    assert list(found) == list(BERT)
    for label, files in found.items():
        assert files == (*spec["configs"], f"configs/loss/{label}.yaml", f"configs/paper/bert_base/{label}.yaml")
        lr, batch, cls, init_args = BERT[label]
        config = resolved(*files)
        assert (config["model"]["lr"], config["data"]["batch_size"]) == (pytest.approx(lr), batch), label
        assert config["model"]["head"] == "linear" and config["trainer"]["gradient_clip_val"] == 1.0
        check_loss(config, cls, init_args)


def test_figure1_roberta_sweep_sets_the_roberta_column_over_the_bert_presets(in_repo):
    spec = sweep("paper_figure1_roberta_base")
    assert spec["configs"] == ["configs/paper_roberta_base.yaml"]
    assert spec["grid"]["seed_everything"] == [1, 2, 3] and len(load_sweep(SWEEPS / "paper_figure1_roberta_base.yaml").runs) == 24
    found = objectives("paper_figure1_roberta_base")
    assert list(found) == list(ROBERTA)
    for label, files in found.items():
        assert files == (*spec["configs"], f"configs/loss/{label}.yaml", f"configs/paper/roberta_base/{label}.yaml")
        lr, cls, init_args = ROBERTA[label]
        config = resolved(*files)
        assert (config["model"]["lr"], config["data"]["batch_size"]) == (pytest.approx(lr), 512), label
        assert config["model"]["head"] == "tanh_linear"
        check_loss(config, cls, init_args)


def test_components_sweep_varies_one_sg_component_at_a_time_around_the_default():
    spec = sweep("paper_components_bert_base")
    base = resolved(*spec["configs"])
    assert (base["model"]["lr"], base["data"]["batch_size"]) == (pytest.approx(1e-5), 128)
    defaults = {"gd_margin": 0.30, "weight_temperature": 0.05, "ratio_value": 1.0}
    check_loss(base, "AssembledLoss", {"gd": "gate", "weight": "softmax", "ratio": "constant", **defaults})
    points = grid_points(spec)
    assert len(points) == 30
    names = set(inspect.signature(AssembledLoss).parameters)
    varied = {}
    for point in points:
        assert point.pop("seed_everything") in (1, 2, 3)
        assert len(point) <= 1  # one axis at a time; the default point has none
        for key, value in point.items():
            prefix, _, arg = key.rpartition(".")
            assert prefix == "model.loss.init_args" and arg in names
            assert value != defaults[arg]  # the default point appears once, as its own mapping
            varied.setdefault(arg, set()).add(value)
    assert sum(1 for p in points if not p) == 3  # the default point, once per seed
    assert varied == {
        "gd_margin": {0.1, 0.5, 1.0},
        "weight_temperature": {0.003, 0.01, 0.1},
        "ratio_value": {0.5, 1.5, 2.0},
    }
    config = resolved(*spec["configs"], overrides=("--model.loss.init_args.weight_temperature=0.003",))
    check_loss(config, "AssembledLoss", {"weight_temperature": 0.003, "gd_margin": 0.30, "ratio_value": 1.0})


def test_clipping_under_bf16_with_the_nan_skip(tiny_bert, data_dir, tmp_path, capsys):
    """The recipe's gradient_clip_val 1.0 under bf16-mixed: clean steps clip (fused AdamW would make
    Lightning refuse), and a non-finite step is still skipped before the clipping sees it."""
    args = fit_args(
        tmp_path,
        str(tiny_bert),
        "--trainer.precision=bf16-mixed",
        "--trainer.gradient_clip_val=1.0",
        "--model.head=linear",
        "--model.pooler=cls",
        "--model.loss=support.nan_loss.NaNEveryStepFrom",
        "--model.loss.start=3",
        "--model.max_consecutive_skips=2",
        steps=6,
        val_every=100,
    )
    assert run_cli(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: 2 optimizer steps in a row")
    scalars = read_scalars(tmp_path)
    assert [v for _, v in scalars["train/skipped_steps"]] == [1.0]
    assert all(math.isfinite(v) for _, v in scalars["train/loss"][:2])

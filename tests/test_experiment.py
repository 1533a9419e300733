"""The experiment harness: every objective for one budget, result JSONs, the table, resumability."""

from __future__ import annotations

import json
import re

import pytest

from lit_srl import experiment
from lit_srl.experiment.records import KEY_DEFAULTS
from lit_srl.experiment.runs import _best_weights
from lit_srl.errors import LitSrlError


def _args(tiny_bert, data_dir, out, *extra):
    return [
        "--backbone", str(tiny_bert), "--budget", "3", "--batch-size", "8", "--seeds", "1",
        "--objectives", "infonce,barlowtwins_mod", "--tasks", "STSBenchmark", "--num-workers", "0",
        "--data-dir", str(data_dir), "--output-dir", str(out / "results"), "--report", str(out / "RESULTS.md"),
        *extra,
    ]


def test_experiment_writes_results_and_table_and_resumes(tiny_bert, data_dir, tmp_path, monkeypatch):
    assert experiment.main(_args(tiny_bert, data_dir, tmp_path)) == 0
    results = tmp_path / "results"
    files = {p.name for p in results.glob("*.json")}
    assert files == {"baseline.json", "infonce_seed1.json", "barlowtwins_mod_seed1.json"}

    infonce = json.loads((results / "infonce_seed1.json").read_text())
    assert infonce["objective"] == "infonce" and infonce["seed"] == 1
    assert set(infonce["scores"]) == {"STSBenchmark", "avg"}
    assert -1 <= infonce["scores"]["avg"] <= 1
    assert infonce["train"]["steps"] == 3
    assert infonce["config"]["loss"] == {"class_path": "lit_srl.losses.InfoNCE", "init_args": {"temperature": 0.05}}
    assert infonce["config"]["budget"] == 3 and infonce["config"]["batch_size"] == 8
    monitor = infonce["monitor"]
    assert monitor["logged_steps"] >= 1
    assert 0 < monitor["gd_mean"] <= 1 and 0 < monitor["w_hardest"] <= 1 and monitor["ratio_mean"] == pytest.approx(1.0)

    barlow = json.loads((results / "barlowtwins_mod_seed1.json").read_text())
    assert barlow["config"]["loss"]["class_path"] == "lit_srl.losses.BarlowTwins"
    assert barlow["config"]["loss"]["init_args"]["ratio"] == 1.5
    assert barlow["monitor"]["ratio_mean"] == pytest.approx(1.5)  # the mod form's explicit ratio r

    table = (tmp_path / "RESULTS.md").read_text()
    assert "- command: `python -m lit_srl experiment --backbone" in table
    assert "budget 3 optimizer steps, batch 8" in table and "- seeds: 1;" in table
    assert "- machine: " in table and "- date: " in table
    assert "| objective | STS-B | avg | Δavg | GD | w_hardest | R | runs |" in table
    assert "| untrained backbone |" in table
    row = next(line for line in table.splitlines() if line.startswith("| InfoNCE |"))
    assert f"{100 * infonce['scores']['avg']:.2f}" in row and row.endswith("| 1 |")
    baseline = json.loads((results / "baseline.json").read_text())
    gain = 100 * (infonce["scores"]["avg"] - baseline["scores"]["avg"])
    assert row.split(" | ")[3] == f"{gain:+.2f}"
    assert any(line.startswith("| Barlow Twins mod |") for line in table.splitlines())
    assert "](results/objectives.png)" in table
    assert (results / "objectives.png").read_bytes().startswith(b"\x89PNG")

    # JSONs from before a config key existed ran with its default and still count as this run's.
    record = json.loads((results / "infonce_seed1.json").read_text())
    assert record["config"]["val_every"] is None and record["config"]["freeze_embeddings"] is False
    assert record["selection"]["scored"] == "final" and record["selection"]["dev_history"] == []
    for key in KEY_DEFAULTS:
        del record["config"][key]
    (results / "infonce_seed1.json").write_text(json.dumps(record))

    # A rerun trains and scores nothing: every (objective, seed) is skipped, the JSONs are untouched.
    stamps = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    (tmp_path / "RESULTS.md").unlink()
    monkeypatch.setattr(experiment, "train_and_score", lambda *a, **k: pytest.fail("retrained a finished run"))
    monkeypatch.setattr(experiment, "score_baseline", lambda *a, **k: pytest.fail("rescored the baseline"))
    assert experiment.main(_args(tiny_bert, data_dir, tmp_path)) == 0
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")} == stamps
    assert (tmp_path / "RESULTS.md").read_text().count("| InfoNCE |") == 1

    # Same output folder, another budget: refused instead of mixing results.
    other = _args(tiny_bert, data_dir, tmp_path)
    other[other.index("--budget") + 1] = "4"
    with pytest.raises(LitSrlError, match="another config"):
        experiment.main(other)


def test_experiment_rejects_unknown_objective(tiny_bert, data_dir, tmp_path):
    with pytest.raises(LitSrlError, match="unknown objective 'nope'.*infonce"):
        experiment.main(_args(tiny_bert, data_dir, tmp_path, "--objectives", "nope"))


def test_objectives_figure_draws_gains_against_the_baseline(tmp_path):
    from lit_srl.analysis.results_figure import family, gains, plot_objectives

    baseline = {"scores": {"avg": 0.70, "STSBenchmark": 0.80}}
    runs = [{"scores": {"avg": 0.71, "STSBenchmark": 0.79}}, {"scores": {"avg": 0.73, "STSBenchmark": 0.81}}]
    assert gains(runs, baseline, "avg") == pytest.approx([1.0, 3.0])
    assert gains(runs, baseline, "STS12") == []
    assert [family(n) for n in ("met", "vicreg", "vicreg_mod")] == ["contrastive", "ori", "mod"]

    path = plot_objectives({"infonce": runs, "mhe": runs[:1], "mhs": []}, baseline, {}, tmp_path / "f.png", "t")
    assert path == tmp_path / "f.png" and path.read_bytes().startswith(b"\x89PNG")
    assert plot_objectives({"mhs": []}, baseline, {}, tmp_path / "none.png", "t") is None
    assert not (tmp_path / "none.png").exists()


def test_experiment_settings_and_best_dev_selection(tiny_bert, data_dir, tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("objectives:\n  infonce: {lr: 1.0e-4, batch_size: 4, budget: 4}\n")
    args = _args(tiny_bert, data_dir, tmp_path, "--objectives", "infonce", "--val-every", "2",
                 "--freeze-embeddings", "--settings", str(settings))
    assert experiment.main(args) == 0
    record = json.loads((tmp_path / "results" / "infonce_seed1.json").read_text())
    assert record["config"]["lr"] == 1e-4 and record["config"]["batch_size"] == 4 and record["config"]["budget"] == 4
    assert record["config"]["freeze_embeddings"] is True and record["train"]["steps"] == 4
    selection = record["selection"]
    assert selection["scored"] == "best STS-B dev" and selection["every_n_steps"] == 2
    history = dict((step, value) for step, value in selection["dev_history"])
    assert len(history) == 2 and selection["best_dev_spearman"] == pytest.approx(max(history.values()))
    assert selection["best_step"] in (2, 4)
    table = (tmp_path / "RESULTS.md").read_text()
    assert "per-objective settings (they replace the line above): InfoNCE: lr 0.0001, batch size 4, budget 4" in table
    assert "best STS-B dev Spearman (checked every 2 steps)" in table and "embedding layer frozen" in table


@pytest.mark.parametrize("text, message", [
    ("objectives:\n  nope: {lr: 1.0e-5}\n", "unknown objective 'nope'"),
    ("objectives:\n  mhs: {lr: -1}\n", "mhs.lr must be a positive number, got -1"),
    ("objectives:\n  mhs: {batch_size: 1}\n", "mhs.batch_size must be an integer of at least 2"),
    ("objectives:\n  mhs: {epochs: 1}\n", "mhs.epochs is not a setting; valid: lr, batch_size, budget"),
    ("mhs: {lr: 1.0e-5}\n", "must hold one mapping, objectives:"),
    ("objectives: [\n", "is not valid YAML"),
])
def test_settings_file_errors_name_the_entry(tmp_path, text, message):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(LitSrlError, match=re.escape(message)):
        experiment.load_settings(str(path))
    with pytest.raises(LitSrlError, match="does not exist"):
        experiment.load_settings(str(tmp_path / "missing.yaml"))


def test_paper_settings_file_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "experiment" / "paper_bert_base.yaml"
    settings = experiment.load_settings(str(path))
    assert set(settings) == {"barlowtwins", "barlowtwins_mod", "vicreg", "vicreg_mod", "mhe", "mhe_mod", "mhs", "mhs_mod"}
    assert settings["mhs"]["lr"] == 5e-6 and all(s["batch_size"] == 128 for s in settings.values())


def test_best_weights_keeps_the_best_dev_state():
    from types import SimpleNamespace

    import torch

    module = SimpleNamespace(encoder=torch.nn.Linear(2, 2))
    best = _best_weights()
    kept = None
    for step, value in [(2, 0.5), (4, 0.7), (6, 0.6), (8, float("nan"))]:
        with torch.no_grad():
            module.encoder.weight.fill_(step)
        trainer = SimpleNamespace(callback_metrics={"val/stsb_spearman": torch.tensor(value)}, sanity_checking=False,
                                  global_step=step)
        best.on_validation_end(trainer, module)
        if step == 4:
            kept = module.encoder.weight.clone()
    assert best.step == 4 and best.value == pytest.approx(0.7)
    assert torch.equal(best.state["weight"], kept)  # a copy, not a view of the live weights

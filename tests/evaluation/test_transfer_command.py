"""`python -m lit_srl eval --tasks transfer|full|MR,TREC`: table, JSON keyed by SentEval's task
names, determinism and one-line errors (tiny random BERT, fixture data: fast to run, meaningless
as scores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.helpers import data_root
from lit_srl.errors import LitSrlError
from lit_srl.evaluation.command import main, select_tasks

DATA = data_root()


def run_eval(tiny_bert, data_dir, *extra) -> None:
    assert main(["--model", str(tiny_bert), "--pooler", "avg", "--data-dir", str(data_dir), "--device", "cpu", *extra]) == 0


def scores(path: Path) -> dict:
    results = json.loads(path.read_text())
    return {k: {m: v for m, v in r.items() if m != "seconds"} if isinstance(r, dict) else r
            for k, r in results.items() if k != "meta"}


def test_single_tasks_print_a_table_and_write_json_keyed_by_task(tiny_bert, tmp_path, capsys, transfer_root):
    out = tmp_path / "results.json"
    run_eval(tiny_bert, transfer_root, "--tasks", "MR,TREC,MRPC", "--transfer-mode", "fast", "--output", str(out))
    results = json.loads(out.read_text())
    assert set(results) == {"MR", "TREC", "MRPC", "transfer_avg", "meta"}
    for task in ("MR", "TREC", "MRPC"):
        assert 0 <= results[task]["accuracy"] <= 1 and 0 <= results[task]["dev_accuracy"] <= 1
    assert results["MR"]["n_test"] == 24 and results["TREC"]["n_test"] == 6 and 0 <= results["MRPC"]["f1"] <= 1
    assert results["transfer_avg"] == pytest.approx(sum(results[t]["accuracy"] for t in ("MR", "TREC", "MRPC")) / 3)
    meta = results["meta"]
    assert meta["tasks"] == ["MR", "TREC", "MRPC"] and meta["transfer_mode"] == "fast" and meta["seed"] == 1111
    assert meta["transfer_score"] == "accuracy" and meta["unique_sentences"] == 0
    printed = capsys.readouterr().out
    assert "transfer (fast mode)" in printed and f"{100 * results['TREC']['accuracy']:8.2f}" in printed
    assert "Spearman" not in printed


def test_same_seed_same_numbers(tiny_bert, tmp_path, transfer_root):
    for name in ("a.json", "b.json"):
        run_eval(tiny_bert, transfer_root, "--tasks", "SST2,TREC", "--split", "dev", "--output", str(tmp_path / name))
    assert scores(tmp_path / "a.json") == scores(tmp_path / "b.json")
    assert json.loads((tmp_path / "a.json").read_text())["meta"]["transfer_score"] == "dev_accuracy"


@pytest.mark.skipif(not (DATA / "senteval" / "STS").is_dir(), reason="no SentEval STS data")
def test_full_is_sts_and_transfer_in_one_json(tiny_bert, tmp_path, capsys, transfer_root):
    root = tmp_path / "data" / "senteval"
    shutil.copytree(transfer_root / "senteval", root)
    for part in ("STS", "SICK"):
        (root / part).symlink_to(DATA / "senteval" / part)
    out = tmp_path / "full.json"
    run_eval(tiny_bert, tmp_path / "data", "--tasks", "full", "--split", "dev", "--output", str(out))
    results = json.loads(out.read_text())
    assert {"STSBenchmark", "SICKRelatedness", "avg", "MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC", "transfer_avg"} <= set(results)
    assert results["meta"]["transfer_mode"] == "fast"
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "dev acc" in printed


def test_task_selection():
    assert select_tasks("transfer") == ([], ["MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC"])
    assert select_tasks("TREC,STSBenchmark,MR", "dev") == (["STSBenchmark"], ["MR", "TREC"])
    assert select_tasks(None, "dev") == (["STSBenchmark", "SICKRelatedness"], [])
    with pytest.raises(LitSrlError, match="unknown task 'SST5'; valid choices: sts, transfer, full, STS12"):
        select_tasks("SST5")
    with pytest.raises(LitSrlError, match="no --split train"):
        select_tasks("MR", "train")


def test_missing_task_folder_is_one_line(tiny_bert, tmp_path):
    with pytest.raises(LitSrlError, match=r"MR: folder .*senteval/MR not found; run `python -m lit_srl data download --only transfer`"):
        run_eval(tiny_bert, tmp_path, "--tasks", "MR")

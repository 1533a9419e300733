"""STS loaders: SentEval's pair counts, text handling and one-line errors for bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from support.helpers import data_root
from lit_srl.errors import LitSrlError
from lit_srl.evaluation import STSEvaluator, load_task, load_tasks
from lit_srl.evaluation.tasks import YEARLY_SUBSETS

DATA = data_root()
needs_data = pytest.mark.skipif(not (DATA / "senteval").is_dir(), reason="no SentEval data")

PAIRS = {
    ("STS12", "test"): 3108,
    ("STS13", "test"): 1500,
    ("STS14", "test"): 3750,
    ("STS15", "test"): 3000,
    ("STS16", "test"): 1186,
    ("STSBenchmark", "train"): 5749,
    ("STSBenchmark", "dev"): 1500,
    ("STSBenchmark", "test"): 1379,
    ("SICKRelatedness", "train"): 4500,
    ("SICKRelatedness", "dev"): 500,
    ("SICKRelatedness", "test"): 4927,
}


@needs_data
@pytest.mark.parametrize("name,split", list(PAIRS))
def test_pair_counts_match_senteval(name, split):
    task = load_task(name, split, DATA)
    assert len(task) == len(task.sentences1) == len(task.sentences2) == PAIRS[name, split]
    assert task.scores.dtype == np.float64 and np.isfinite(task.scores).all()


@needs_data
def test_sts13_has_no_smt_and_sts12_keeps_every_subset():
    assert load_task("STS13", "test", DATA).subset_names == ["FNWN", "headlines", "OnWN"]
    sts12 = load_task("STS12", "test", DATA)
    assert sts12.subset_names == list(YEARLY_SUBSETS["STS12"])
    assert sts12.subsets.count("SMTeuroparl") == 459


def _senteval_sentences(folder: Path, subset: str):
    """SentEval's loader, as SimCSE feeds it: split on tabs, tokenise with split(), drop empty
    gold lines; SimCSE's batcher rejoins tokens with ' '."""
    lines = io.open(folder / f"STS.input.{subset}.txt", encoding="utf8").read().splitlines()
    sent1, sent2 = zip(*[line.split("\t")[:2] for line in lines])
    raw = np.array(io.open(folder / f"STS.gs.{subset}.txt", encoding="utf8").read().splitlines())
    keep = raw != ""
    s1 = [" ".join(s.split()) for s, k in zip(sent1, keep) if k]
    s2 = [" ".join(s.split()) for s, k in zip(sent2, keep) if k]
    return s1, s2, [float(x) for x in raw[keep]]


@needs_data
def test_sentences_are_identical_to_senteval_as_simcse_feeds_it():
    for name, subsets in YEARLY_SUBSETS.items():
        task = load_task(name, "test", DATA)
        s1, s2, gold = [], [], []
        for subset in subsets:
            a, b, g = _senteval_sentences(DATA / "senteval" / "STS" / f"{name}-en-test", subset)
            s1 += a
            s2 += b
            gold += g
        assert task.sentences1 == s1 and task.sentences2 == s2
        np.testing.assert_array_equal(task.scores, gold)
    stsb = load_task("STSBenchmark", "test", DATA)
    with open(DATA / "senteval/STS/STSBenchmark/sts-test.csv", encoding="utf-8") as handle:
        rows = [line.strip().split("\t") for line in handle]
    assert stsb.sentences1 == [" ".join(r[5].split()) for r in rows]
    assert stsb.sentences2 == [" ".join(r[6].split()) for r in rows]


@needs_data
def test_default_tasks_follow_the_split():
    assert [t.name for t in load_tasks(None, "test", DATA)] == [
        "STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness"
    ]
    assert [t.name for t in load_tasks(None, "dev", DATA)] == ["STSBenchmark", "SICKRelatedness"]


@needs_data
def test_evaluator_encodes_each_unique_sentence_once():
    ev = STSEvaluator.from_data_dir(DATA, tasks="STS12,STSBenchmark", split="test")
    assert len(set(ev.sentences)) == len(ev.sentences)
    every = [s for t in ev.tasks for s in t.sentences1 + t.sentences2]
    assert set(every) == set(ev.sentences) and len(ev.sentences) < len(every)
    for task in ev.tasks:
        i1, i2 = ev.pairs[task.name]
        assert [ev.sentences[i] for i in i1] == task.sentences1
        assert [ev.sentences[i] for i in i2] == task.sentences2


# --- small files in tmp_path -------------------------------------------------------------------

def _write_sts12(root: Path, input_lines: list[str], gold_lines: list[str]) -> Path:
    folder = root / "senteval" / "STS" / "STS12-en-test"
    folder.mkdir(parents=True)
    for subset in YEARLY_SUBSETS["STS12"]:
        (folder / f"STS.input.{subset}.txt").write_text("\n".join(input_lines) + "\n", encoding="utf-8")
        (folder / f"STS.gs.{subset}.txt").write_text("\n".join(gold_lines) + "\n", encoding="utf-8")
    return folder


def test_empty_gold_dropped_extra_columns_ignored_whitespace_normalised(tmp_path):
    _write_sts12(tmp_path, ["a  b\tc d\textra\tmore", "x\ty", " e\u00a0f \t g "], ["1.5", "", "4"])
    task = load_task("STS12", "test", tmp_path)
    assert len(task) == 2 * len(YEARLY_SUBSETS["STS12"])
    assert task.sentences1[:2] == ["a b", "e f"] and task.sentences2[:2] == ["c d", "g"]
    assert task.scores[:2].tolist() == [1.5, 4.0]


def test_missing_task_folder_names_path_task_and_fix(tmp_path):
    with pytest.raises(LitSrlError) as err:
        load_task("STS14", "test", tmp_path)
    msg = str(err.value)
    assert "STS14" in msg and str(tmp_path / "senteval" / "STS" / "STS14-en-test") in msg
    assert "make data" in msg and "LIT_SRL_DATA" in msg and "\n" not in msg


def test_missing_file_names_it(tmp_path):
    (tmp_path / "senteval" / "SICK").mkdir(parents=True)
    with pytest.raises(LitSrlError, match=r"SICK_trial\.txt not found"):
        load_task("SICKRelatedness", "dev", tmp_path)


def test_wrong_column_count_reports_file_and_line(tmp_path):
    folder = _write_sts12(tmp_path, ["a\tb", "no tab here"], ["1", "2"])
    with pytest.raises(LitSrlError, match=rf"{folder / 'STS.input.MSRpar.txt'}:2:"):
        load_task("STS12", "test", tmp_path)


def test_non_numeric_score_reports_file_and_line(tmp_path):
    folder = _write_sts12(tmp_path, ["a\tb", "c\td"], ["1", "high"])
    with pytest.raises(LitSrlError, match=rf"{folder / 'STS.gs.MSRpar.txt'}:2: gold score 'high'"):
        load_task("STS12", "test", tmp_path)


def test_stsb_malformed_lines_report_file_and_line(tmp_path):
    folder = tmp_path / "senteval" / "STS" / "STSBenchmark"
    folder.mkdir(parents=True)
    good = "genre\tfile\tyear\t0001\t2.5\tfirst sentence\tsecond sentence"
    (folder / "sts-dev.csv").write_text(good + "\n" + "too\tfew\tcolumns\n", encoding="utf-8")
    with pytest.raises(LitSrlError, match=r"sts-dev\.csv:2: expected at least 7"):
        load_task("STSBenchmark", "dev", tmp_path)
    (folder / "sts-dev.csv").write_text(good + "\n" + good.replace("2.5", "n/a") + "\n", encoding="utf-8")
    with pytest.raises(LitSrlError, match=r"sts-dev\.csv:2: gold score 'n/a'"):
        load_task("STSBenchmark", "dev", tmp_path)


def test_stsb_quotes_are_plain_text(tmp_path):
    folder = tmp_path / "senteval" / "STS" / "STSBenchmark"
    folder.mkdir(parents=True)
    (folder / "sts-test.csv").write_text('g\tf\ty\t1\t3.0\t"quoted\tfine " ok\n', encoding="utf-8")
    task = load_task("STSBenchmark", "test", tmp_path)
    assert task.sentences1 == ['"quoted'] and task.sentences2 == ['fine " ok']


def test_sick_skips_header(tmp_path):
    folder = tmp_path / "senteval" / "SICK"
    folder.mkdir(parents=True)
    (folder / "SICK_test_annotated.txt").write_text(
        "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
        "1\tA man runs\tA person runs\t4.5\tENTAILMENT\n",
        encoding="utf-8",
    )
    task = load_task("SICKRelatedness", "test", tmp_path)
    assert (task.sentences1, task.sentences2, task.scores.tolist()) == (["A man runs"], ["A person runs"], [4.5])


def test_unknown_task_lists_valid_ones(tmp_path):
    with pytest.raises(LitSrlError, match=r"unknown task 'STS17'.*STSBenchmark.*SICKRelatedness"):
        load_tasks("STS12,STS17", "test", tmp_path)


def test_yearly_task_has_only_a_test_split(tmp_path):
    with pytest.raises(LitSrlError, match=r"STS12 has no 'dev' split"):
        load_tasks("STS12", "dev", tmp_path)


# --- empty evaluation data is an error naming the file, never a task with nothing to score -------

def _write_file(root: Path, relative: str, text: str) -> Path:
    path = root / "senteval" / relative
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def _write_stsb_dev(root: Path, text: str) -> Path:
    return _write_file(root, "STS/STSBenchmark/sts-dev.csv", text)


@pytest.mark.parametrize("name,relative,text,what", [
    ("STSBenchmark", "STS/STSBenchmark/sts-dev.csv", "", "sentence pair"),
    ("STSBenchmark", "STS/STSBenchmark/sts-dev.csv", "\n  \n", "sentence pair"),
    ("SICKRelatedness", "SICK/SICK_trial.txt", "pair_ID\tsentence_A\tsentence_B\trelatedness_score\n", "sentence pair below its header"),
])
def test_a_file_with_no_pair_is_one_line_naming_it(tmp_path, name, relative, text, what):
    path = _write_file(tmp_path, relative, text)
    with pytest.raises(LitSrlError) as err:
        load_task(name, "dev", tmp_path)
    assert str(err.value).startswith(f"{path} holds no {what};") and "\n" not in str(err.value)


def test_a_yearly_subset_without_a_gold_score_names_its_gold_file(tmp_path):
    folder = _write_sts12(tmp_path, ["a\tb", "c\td"], ["", ""])
    with pytest.raises(LitSrlError, match=rf"^{folder / 'STS.gs.MSRpar.txt'} holds no gold score"):
        load_task("STS12", "test", tmp_path)


def test_eval_on_an_empty_file_stops_with_that_line_and_writes_no_json(tmp_path, tiny_bert):
    from lit_srl.evaluation.command import main

    path = _write_stsb_dev(tmp_path, "")
    out = tmp_path / "results.json"
    with pytest.raises(LitSrlError, match=rf"^{path} holds no sentence pair"):
        main(["--model", str(tiny_bert), "--data-dir", str(tmp_path), "--device", "cpu", "--tasks", "STSBenchmark",
              "--split", "dev", "--output", str(out)])
    assert not out.exists()


@needs_data
def test_fit_with_an_empty_stsb_dev_file_stops_before_training(tmp_path, tiny_bert, capsys):
    from support.helpers import fit_args, run_cli

    root = tmp_path / "data"
    path = _write_stsb_dev(root, "")
    (root / "corpus").symlink_to(DATA / "corpus")
    code = run_cli(fit_args(tmp_path / "run", str(tiny_bert), f"--data.data_dir={root}", steps=2, val_every=1))
    assert code == 2
    assert f"error: {path} holds no sentence pair" in capsys.readouterr().err
    assert not list((tmp_path / "run").rglob("*.ckpt"))

"""Transfer-task loaders on small fixtures in SentEval's file formats: SentEval's own reading
(encodings, labels, header, sort order) and one-line errors for bad input."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from lit_srl.errors import LitSrlError
from lit_srl.evaluation.transfer import TRANSFER_TASKS, load_transfer_task, load_transfer_tasks



def senteval_binary(folder: Path, positive: str, negative: str):
    """SentEval's binary.py: latin-1, splitlines, split(); sorted by (words, label)."""
    def read(name):
        with io.open(folder / name, "r", encoding="latin-1") as f:
            return [line.split() for line in f.read().splitlines()]
    pos, neg = read(positive), read(negative)
    rows = sorted(zip(pos + neg, [1] * len(pos) + [0] * len(neg)), key=lambda z: (len(z[0]), z[1]))
    return [" ".join(w) for w, _ in rows], [y for _, y in rows]


@pytest.mark.parametrize("name,files", [("MR", ("rt-polarity.pos", "rt-polarity.neg")), ("CR", ("custrev.pos", "custrev.neg")),
                                        ("SUBJ", ("subj.objective", "subj.subjective")), ("MPQA", ("mpqa.pos", "mpqa.neg"))])
def test_binary_tasks_read_as_senteval_does(name, files, transfer_root):
    task = load_transfer_task(name, transfer_root)
    sentences, labels = senteval_binary(transfer_root / "senteval" / name, *files)
    assert task.n_classes == 2 and task.protocol == "inner_kfold" and list(task.splits) == ["all"]
    assert task.splits["all"].sentences == sentences and task.splits["all"].labels.tolist() == labels
    assert task.splits["all"].labels.dtype == np.int64


def test_mr_is_latin1_and_subj_objective_is_label_one(transfer_root):
    mr = load_transfer_task("MR", transfer_root).splits["all"]
    assert "a charming café comedy ." in mr.sentences
    assert mr.labels[mr.sentences.index("a charming café comedy .")] == 1
    subj = load_transfer_task("SUBJ", transfer_root).splits["all"]
    assert subj.labels[subj.sentences.index("the film is set in city 3 .")] == 1


def test_sst2_has_fixed_splits_in_utf8(transfer_root):
    task = load_transfer_task("SST2", transfer_root)
    assert list(task.splits) == ["train", "dev", "test"] and task.protocol == "split"
    assert [len(task.splits[s]) for s in ("train", "dev", "test")] == [8, 4, 4]
    train = task.splits["train"]
    assert train.labels[train.sentences.index("a naïve , charming film .")] == 1
    lengths = [len(s.split()) for s in train.sentences]
    assert lengths == sorted(lengths)  # SentEval's order: by words, then label


def test_trec_takes_the_coarse_class_and_drops_the_fine_one(transfer_root):
    task = load_transfer_task("TREC", transfer_root)
    assert task.n_classes == 6 and task.protocol == "kfold" and [len(task.splits[s]) for s in ("train", "test")] == [30, 6]
    train = task.splits["train"]
    assert train.labels[train.sentences.index("What is a café ?")] == 1  # DESC:def, latin-1
    assert train.labels[train.sentences.index("Who wrote Hamlet ?")] == 3
    assert sorted(set(train.labels.tolist())) == [0, 1, 2, 3, 4, 5]


def test_mrpc_skips_the_header_and_keeps_pairs_aligned(transfer_root):
    task = load_transfer_task("MRPC", transfer_root)
    train = task.splits["train"]
    assert len(train) == 10 and len(task.splits["test"]) == 6
    assert not any("Quality" in s or "String" in s for s in train.sentences)
    i = train.sentences.index("The company said profits rose – 3 percent .")  # utf-8 en dash
    assert train.sentences2[i] == "Shares of the firm fell on day 3 ." and train.labels[i] == 0
    j = train.sentences.index("The company said profits rose 4 percent .")
    assert train.sentences2[j] == "The company reported profits rose 4 percent ." and train.labels[j] == 1
    assert set(train.sentences2) <= set(task.sentences) and len(task.sentences) == len(set(task.sentences))


def test_all_seven_load_in_the_papers_order(transfer_root):
    assert [t.name for t in load_transfer_tasks(data_dir=transfer_root)] == list(TRANSFER_TASKS)


@pytest.fixture
def copy(tmp_path, transfer_root) -> Path:
    shutil.copytree(transfer_root, tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize("relative,line,needle", [
    ("SST/binary/sentiment-dev", "a film without a label\n", "label 0 or 1"),
    ("SST/binary/sentiment-dev", "a film with label two\t2\n", "label 0 or 1"),
    ("TREC/TREC_10.label", "What is this without a class ?\n", "CLASS:fine question"),
    ("TREC/TREC_10.label", "QUESTION:x What is this ?\n", "CLASS one of ABBR"),
    ("MRPC/msr_paraphrase_test.txt", "1\t7\t8\tonly one sentence\n", "5 tab-separated columns"),
])
def test_malformed_line_names_file_and_line(copy, relative, line, needle):
    path = copy / "senteval" / relative
    n_lines = len(path.read_bytes().splitlines())
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
    name = {"SST": "SST2", "TREC": "TREC", "MRPC": "MRPC"}[relative.split("/")[0]]
    with pytest.raises(LitSrlError) as err:
        load_transfer_task(name, copy)
    assert str(err.value).startswith(f"{path}:{n_lines + 1}: ") and needle in str(err.value)
    assert "\n" not in str(err.value)


def test_undecodable_utf8_names_the_line(copy):
    path = copy / "senteval" / "SST" / "binary" / "sentiment-test"
    path.write_bytes(path.read_bytes() + b"caf\xe9 in latin-1\t1\n")
    with pytest.raises(LitSrlError, match=rf"{path}:5: bytes that are not utf-8"):
        load_transfer_task("SST2", copy)


def test_missing_task_folder_is_one_line_naming_it_and_data_download(copy):
    shutil.rmtree(copy / "senteval" / "TREC")
    with pytest.raises(LitSrlError) as err:
        load_transfer_tasks(["MR", "TREC"], copy)
    message = str(err.value)
    assert str(copy / "senteval" / "TREC") in message and "data download" in message and "\n" not in message


def test_missing_file_names_it(copy):
    (copy / "senteval" / "MRPC" / "msr_paraphrase_test.txt").unlink()
    with pytest.raises(LitSrlError, match=r"msr_paraphrase_test.txt not found; run `python -m lit_srl data download"):
        load_transfer_task("MRPC", copy)


def test_unknown_task_lists_the_choices(transfer_root):
    with pytest.raises(LitSrlError, match="valid choices: MR, CR, SUBJ, MPQA, SST2, TREC, MRPC"):
        load_transfer_task("SST5", transfer_root)


# ------------------------------------------------- line boundaries: SentEval's readers, not splitlines
def senteval_lines(path: Path, encoding: str) -> list[str]:
    """How SentEval's sst.py, trec.py and mrpc.py read a file: ``for line in io.open(...)``."""
    with io.open(path, "r", encoding=encoding) as f:
        return list(f)


def senteval_trec(path: Path) -> list[tuple[str, int]]:
    classes = {"ABBR": 0, "DESC": 1, "ENTY": 2, "HUM": 3, "LOC": 4, "NUM": 5}
    rows = []
    for line in senteval_lines(path, "latin-1"):
        target, sample = line.strip().split(":", 1)
        rows.append((" ".join(sample.split(" ", 1)[1].split()), classes[target]))
    return rows


def senteval_sst(path: Path) -> list[tuple[str, int]]:
    return [(" ".join(s[0].split()), int(s[1])) for s in (line.strip().split("\t") for line in senteval_lines(path, "utf-8"))]


def senteval_mrpc(path: Path) -> list[tuple[str, str, int]]:
    rows = [line.strip().split("\t") for line in senteval_lines(path, "utf-8")][1:]
    return [(" ".join(t[3].split()), " ".join(t[4].split()), int(t[0])) for t in rows]


@pytest.mark.parametrize("name,relative,extra,senteval", [
    ("TREC", "TREC/TREC_10.label", b"HUM:ind Who sang caf\x85 songs ?\r\nDESC:def What is\x85 it ?\n", senteval_trec),
    ("SST2", "SST/binary/sentiment-test", "a line\u2028that goes on\x0b and on\x85 .\t1\r\n".encode(), senteval_sst),
    ("MRPC", "MRPC/msr_paraphrase_test.txt", "1\t7\t8\tone\u2028sentence\x85 .\tthe same\u2029one .\n".encode(), senteval_mrpc),
])
def test_lines_break_where_sentevals_readers_break_them(copy, name, relative, extra, senteval):
    """U+0085, U+2028, U+2029 and \\x0b are inside a line for SentEval's sst/trec/mrpc readers
    (universal newlines), whitespace between words; \\r\\n ends a line."""
    path = copy / "senteval" / relative
    path.write_bytes(path.read_bytes() + extra)
    split = load_transfer_task(name, copy).splits["test"]
    pairs = list(zip(split.sentences, split.sentences2, split.labels.tolist())) if name == "MRPC" else list(zip(split.sentences, split.labels.tolist()))
    assert sorted(pairs) == sorted(senteval(path))
    assert len(pairs) == len(senteval_lines(path, "latin-1" if name == "TREC" else "utf-8")) - (name == "MRPC")


# ------------------------------------------------- empty evaluation data is an error, not an empty task
@pytest.mark.parametrize("name,relative,content", [
    ("MR", "MR/rt-polarity.neg", b""),
    ("SUBJ", "SUBJ/subj.objective", b"\n \n"),
    ("SST2", "SST/binary/sentiment-dev", b""),
    ("TREC", "TREC/TREC_10.label", b""),
    ("MRPC", "MRPC/msr_paraphrase_test.txt", b"\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"),
])
def test_a_file_with_no_rows_is_one_line_naming_it(copy, name, relative, content):
    path = copy / "senteval" / relative
    path.write_bytes(content)
    with pytest.raises(LitSrlError) as err:
        load_transfer_task(name, copy)
    message = str(err.value)
    assert message.startswith(f"{path} holds no ") and "data download" in message and "\n" not in message


# ------------------------------------------------- what `eval --help` says about them
def test_eval_help_describes_the_transfer_tasks_modes_and_options(capsys):
    from lit_srl.evaluation.command import main
    from lit_srl.evaluation.transfer import MODES

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "transfer tasks" in text.split("options:")[0]  # the description, not only the STS suite
    assert ", ".join(TRANSFER_TASKS) in text and "data download --only transfer" in text
    for option in ("--tasks", "--split", "--transfer-mode", "--seed"):
        assert option in text
    for mode, settings in MODES.items():
        assert f"{mode}: {settings.optimizer}, batch {settings.batch_size}, tenacity {settings.tenacity}" in text
    assert "--mode fasttest" in text and "accuracy" in text

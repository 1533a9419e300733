"""The seven SentEval transfer tasks: loaders for MR, CR, SUBJ, MPQA, SST2, TREC and MRPC.

Layout under the data root (SentEval's ``data/downstream``, as ``python -m lit_srl data download
--only transfer`` builds it)::

    senteval/MR/rt-polarity.{pos,neg}           one sentence per line, latin-1
    senteval/CR/custrev.{pos,neg}               one sentence per line, latin-1
    senteval/SUBJ/subj.{objective,subjective}   one sentence per line, latin-1 (objective = 1)
    senteval/MPQA/mpqa.{pos,neg}                one phrase per line, latin-1
    senteval/SST/binary/sentiment-{train,dev,test}   ``sentence<TAB>label`` (0/1), utf-8
    senteval/TREC/{train_5500,TREC_10}.label    ``COARSE:fine question``, latin-1
    senteval/MRPC/msr_paraphrase_{train,test}.txt    header line, then
                                                ``label<TAB>id1<TAB>id2<TAB>sentence1<TAB>sentence2``, utf-8

Handled as SentEval's ``binary.py``, ``sst.py``, ``trec.py`` and ``mrpc.py`` do: the encodings
above, labels (positive/objective/paraphrase = 1; TREC's six coarse classes ABBR, DESC, ENTY,
HUM, LOC, NUM = 0…5), sentences split on whitespace and rejoined with one space (SimCSE's
batcher), and each split sorted by (number of words, label) — MRPC by (words of sentence 1, words
of sentence 2, label) — with a stable sort, as SentEval sorts before it embeds. The order matters:
the cross-validation folds are drawn over it.

Lines are split as SentEval splits them: ``read().splitlines()`` for the four binary tasks,
universal newlines (``\n``, ``\r\n``, ``\r``; not U+0085 or U+2028) for SST, TREC and MRPC.

Where we differ on purpose: a line SentEval would crash on (or silently misread) raises one line,
``error: FILE:LINE: …``; a file with no rows (SentEval would score nothing, or crash) and a missing
folder name the file or folder and ``data download``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from lit_srl.errors import LitSrlError, check_choice
from lit_srl.evaluation.tasks import no_rows_error, senteval_dir

#: The tasks, in the order SimCSE's tables print them.
TRANSFER_TASKS = ("MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC")
#: Each task's folder under ``<data root>/senteval``.
TASK_FOLDERS = {"MR": "MR", "CR": "CR", "SUBJ": "SUBJ", "MPQA": "MPQA", "SST2": "SST/binary",
                "TREC": "TREC", "MRPC": "MRPC"}
#: How each task is scored (see :mod:`lit_srl.evaluation.transfer.protocol`): 10-fold (5 in the
#: fast mode) cross-validation with inner L2 selection, a fixed train/dev/test split, or the
#: train/test split with L2 chosen by cross-validation on train.
PROTOCOLS = {"MR": "inner_kfold", "CR": "inner_kfold", "SUBJ": "inner_kfold", "MPQA": "inner_kfold",
             "SST2": "split", "TREC": "kfold", "MRPC": "kfold"}
#: SentEval's TREC label indices (coarse classes).
TREC_CLASSES = {"ABBR": 0, "DESC": 1, "ENTY": 2, "HUM": 3, "LOC": 4, "NUM": 5}
_BINARY_FILES = {  # (label 1 file, label 0 file), SentEval's binary.py
    "MR": ("rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("custrev.pos", "custrev.neg"),
    "SUBJ": ("subj.objective", "subj.subjective"),
    "MPQA": ("mpqa.pos", "mpqa.neg"),
}
_HOW_TO_GET_DATA = "run `python -m lit_srl data download --only transfer`, or point LIT_SRL_DATA or --data-dir at the data root"


@dataclass
class LabeledSplit:
    """One split of a task: ``n`` sentences (pairs for MRPC) and their integer labels.

    ``labels`` is int64 (n,); ``sentences2`` is None except for MRPC, whose n pairs are
    ``(sentences[i], sentences2[i])``.
    """

    sentences: list[str]
    labels: np.ndarray
    sentences2: Optional[list[str]] = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.sentences) != len(self.labels) or (self.sentences2 is not None and len(self.sentences2) != len(self.labels)):
            raise ValueError("sentences, sentences2 and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TransferTask:
    """A transfer task: its name, number of classes and splits.

    ``splits`` holds ``"all"`` (MR, CR, SUBJ, MPQA: cross-validated), ``"train"``/``"dev"``/
    ``"test"`` (SST2) or ``"train"``/``"test"`` (TREC, MRPC).
    """

    name: str
    n_classes: int
    splits: dict[str, LabeledSplit]

    @property
    def protocol(self) -> str:
        return PROTOCOLS[self.name]

    @property
    def sentences(self) -> list[str]:
        """Every distinct sentence of every split, in first-seen order (each is encoded once)."""
        seen: dict[str, None] = {}
        for split in self.splits.values():
            seen.update(dict.fromkeys(split.sentences))
            if split.sentences2 is not None:
                seen.update(dict.fromkeys(split.sentences2))
        return list(seen)


# ------------------------------------------------------------------------------------ reading
def _read_text(path: Path, encoding: str, task: str) -> str:
    """The file decoded as SentEval decodes it; a byte the encoding cannot decode is an error
    naming the line."""
    if not path.is_file():
        raise LitSrlError(f"{task}: {path} not found; {_HOW_TO_GET_DATA}")
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise LitSrlError(f"{path}:{line}: bytes that are not {encoding}; fix or restore the file") from None


def _read_lines(path: Path, encoding: str, task: str) -> list[str]:
    """The file's lines as SentEval's ``sst.py``, ``trec.py`` and ``mrpc.py`` read them, ``for line
    in io.open(path, encoding=…)``: universal newlines, a line ends at ``\n``, ``\r\n`` or ``\r`` only.
    (``str.splitlines`` would also break at U+0085, U+2028, ``\x0b``…: a latin-1 byte 0x85 inside a
    TREC question would split it in two.) Line endings are removed."""
    lines = _read_text(path, encoding, task).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _no_rows(path: Path, what: str) -> LitSrlError:
    return no_rows_error(path, what, _HOW_TO_GET_DATA)


def _words(text: str) -> list[str]:
    return text.split()


def _sorted_split(rows: Iterable[tuple], key) -> LabeledSplit:
    """Rows ``(words, label)`` or ``(words1, words2, label)`` stably sorted by ``key`` (SentEval's
    order), joined into a :class:`LabeledSplit`."""
    rows = sorted(rows, key=key)
    if rows and len(rows[0]) == 3:
        return LabeledSplit([" ".join(a) for a, _, _ in rows], [y for *_, y in rows], [" ".join(b) for _, b, _ in rows])
    return LabeledSplit([" ".join(w) for w, _ in rows], [y for _, y in rows])


def _by_length_then_label(row: tuple) -> tuple:
    return (len(row[0]), row[-1])


def _malformed(path: Path, line_no: int, what: str) -> LitSrlError:
    return LitSrlError(f"{path}:{line_no}: {what}; fix or restore the file")


def load_binary(name: str, folder: Path) -> TransferTask:
    """MR, CR, SUBJ, MPQA: two files of one sentence per line (latin-1), label 1 and label 0.

    As SentEval's ``binary.py``: ``read().splitlines()`` (which, unlike the other readers, breaks
    at every line boundary ``str.splitlines`` knows), so a blank line is kept as an empty sentence;
    one split ``"all"`` for cross-validation. A file without a sentence is an error naming it.
    """
    rows = []
    for path, label in zip((folder / f for f in _BINARY_FILES[name]), (1, 0)):
        sentences = [_words(s) for s in _read_text(path, "latin-1", name).splitlines()]
        if not any(sentences):
            raise _no_rows(path, "sentence")
        rows += [(words, label) for words in sentences]
    return TransferTask(name, 2, {"all": _sorted_split(rows, _by_length_then_label)})


def load_sst2_split(path: Path) -> LabeledSplit:
    """One SST binary file (utf-8): ``sentence<TAB>label`` per line, label 0 or 1."""
    rows = []
    for line_no, line in enumerate(_read_lines(path, "utf-8", "SST2"), start=1):
        columns = line.strip().split("\t")
        if len(columns) < 2 or columns[1].strip() not in ("0", "1"):
            raise _malformed(path, line_no, "expected `sentence<TAB>label` with label 0 or 1")
        rows.append((_words(columns[0]), int(columns[1])))
    if not rows:
        raise _no_rows(path, "`sentence<TAB>label` line")
    return _sorted_split(rows, _by_length_then_label)


def load_sst2(folder: Path) -> TransferTask:
    """SST2 (SentEval's ``SST/binary``): fixed train, dev and test files."""
    splits = {split: load_sst2_split(folder / f"sentiment-{split}") for split in ("train", "dev", "test")}
    return TransferTask("SST2", 2, splits)


def load_trec_split(path: Path) -> LabeledSplit:
    """One TREC file (latin-1): ``COARSE:fine question words``; the question is everything after
    the first space (SentEval's ``trec.py``)."""
    rows = []
    for line_no, line in enumerate(_read_lines(path, "latin-1", "TREC"), start=1):
        target, colon, rest = line.strip().partition(":")
        if not colon or " " not in rest or target not in TREC_CLASSES:
            raise _malformed(path, line_no, f"expected `CLASS:fine question` with CLASS one of {', '.join(TREC_CLASSES)}")
        rows.append((_words(rest.split(" ", 1)[1]), TREC_CLASSES[target]))
    if not rows:
        raise _no_rows(path, "`CLASS:fine question` line")
    return _sorted_split(rows, _by_length_then_label)


def load_trec(folder: Path) -> TransferTask:
    """TREC question types: ``train_5500.label`` (train) and ``TREC_10.label`` (test)."""
    splits = {"train": load_trec_split(folder / "train_5500.label"), "test": load_trec_split(folder / "TREC_10.label")}
    return TransferTask("TREC", len(TREC_CLASSES), splits)


def load_mrpc_split(path: Path) -> LabeledSplit:
    """One MRPC file (utf-8): a header line, then ``label<TAB>id<TAB>id<TAB>sentence1<TAB>sentence2``."""
    rows = []
    for line_no, line in enumerate(_read_lines(path, "utf-8", "MRPC"), start=1):
        if line_no == 1:
            continue  # the header: Quality, #1 ID, #2 ID, #1 String, #2 String
        columns = line.strip().split("\t")
        if len(columns) < 5 or columns[0] not in ("0", "1"):
            raise _malformed(path, line_no, "expected 5 tab-separated columns starting with the label 0 or 1")
        rows.append((_words(columns[3]), _words(columns[4]), int(columns[0])))
    if not rows:
        raise _no_rows(path, "sentence pair below its header")
    return _sorted_split(rows, lambda row: (len(row[0]), len(row[1]), row[2]))


def load_mrpc(folder: Path) -> TransferTask:
    """MRPC paraphrase pairs: ``msr_paraphrase_train.txt`` and ``msr_paraphrase_test.txt``."""
    splits = {split: load_mrpc_split(folder / f"msr_paraphrase_{split}.txt") for split in ("train", "test")}
    return TransferTask("MRPC", 2, splits)


def task_folder(name: str, data_dir: Optional[os.PathLike | str] = None) -> Path:
    """``<data root>/senteval/<folder of name>``; a missing folder is one line saying how to get it."""
    check_choice("transfer task", name, TRANSFER_TASKS)
    folder = senteval_dir(data_dir) / TASK_FOLDERS[name]
    if not folder.is_dir():
        raise LitSrlError(f"{name}: folder {folder} not found; {_HOW_TO_GET_DATA}")
    return folder


def load_transfer_task(name: str, data_dir: Optional[os.PathLike | str] = None) -> TransferTask:
    """Load one task from ``<data_dir>/senteval`` (``data_dir`` defaults to ``$LIT_SRL_DATA``)."""
    folder = task_folder(name, data_dir)
    if name in _BINARY_FILES:
        return load_binary(name, folder)
    return {"SST2": load_sst2, "TREC": load_trec, "MRPC": load_mrpc}[name](folder)


def load_transfer_tasks(names: Sequence[str] = TRANSFER_TASKS, data_dir: Optional[os.PathLike | str] = None) -> list[TransferTask]:
    """Load several tasks (all seven by default), checking every folder before any is read."""
    for name in names:
        task_folder(name, data_dir)
    return [load_transfer_task(name, data_dir) for name in names]

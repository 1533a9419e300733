"""The SentEval STS suite: loaders for STS12–STS16, STS-B and SICK-R.

Layout under the data root (``$LIT_SRL_DATA``, see ``shared/data/README.md``)::

    senteval/STS/STS1{2..6}-en-test/STS.input.<subset>.txt   two sentences per line, tab-separated
    senteval/STS/STS1{2..6}-en-test/STS.gs.<subset>.txt      one gold score per line ('' = no score)
    senteval/STS/STSBenchmark/sts-{train,dev,test}.csv       tab-separated, score col 4, sentences 5, 6
    senteval/SICK/SICK_{train,trial,test_annotated}.txt      header row, sentences col 1, 2, score 3

Text is handled exactly as SimCSE feeds SentEval: SentEval splits each sentence on whitespace
(``str.split()``) and SimCSE's batcher rejoins the tokens with one space, so a sentence here is
``" ".join(raw.split())``. STS12–16 files are read with ``read().splitlines()`` and STS-B/SICK line
by line after ``strip()``, as SentEval does; STS-B is read with quoting off (a plain tab split).
A file with nothing to score (no pair, or no gold score) is an error naming it, not an empty task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from lit_srl.paths import default_data_dir
from lit_srl.errors import LitSrlError, check_choice

#: STS12–16: the SemEval years, each a folder of subsets (SentEval's lists; STS13 without SMT,
#: whose input is licensed and absent, as in SentEval).
YEARLY_SUBSETS = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}
#: Every task, in the order papers print them.
TASKS = (*YEARLY_SUBSETS, "STSBenchmark", "SICKRelatedness")
#: The splits each task has. SICK's ``dev`` is its trial file.
SPLITS = {
    **{name: ("test",) for name in YEARLY_SUBSETS},
    "STSBenchmark": ("train", "dev", "test"),
    "SICKRelatedness": ("train", "dev", "test"),
}
_STSB_FILES = {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}
_SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}
_HOW_TO_GET_DATA = "run `make data`, or point LIT_SRL_DATA or --data-dir at the data root"


@dataclass
class STSTask:
    """One scored split of an STS task: ``n`` sentence pairs with gold similarity scores.

    ``scores`` is a float64 array (n,); ``subsets[i]`` names the file pair ``i`` came from (the
    SemEval subset for STS12–16, the split for STS-B and SICK-R).
    """

    name: str
    split: str
    sentences1: list[str]
    sentences2: list[str]
    scores: np.ndarray
    subsets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if not self.subsets:
            self.subsets = [self.split] * len(self.scores)
        if not len(self.sentences1) == len(self.sentences2) == len(self.scores) == len(self.subsets):
            raise ValueError(f"{self.name}: sentences1, sentences2, scores and subsets differ in length")

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def subset_names(self) -> list[str]:
        """The subsets in first-seen order."""
        return list(dict.fromkeys(self.subsets))




def senteval_dir(data_dir: Optional[os.PathLike | str] = None) -> Path:
    """``<data root>/senteval``; a path that already is the senteval folder is accepted as is."""
    root = Path(os.path.expanduser(str(data_dir))) if data_dir is not None else default_data_dir()
    if (root / "senteval").is_dir() or not (root / "STS").is_dir():
        return root / "senteval"
    return root


def _text(raw: str) -> str:
    """SentEval tokenises with ``str.split()``; SimCSE's batcher rejoins with ``' '``."""
    return " ".join(raw.split())


def _score(value: str, path: Path, line_no: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise LitSrlError(
            f"{path}:{line_no}: gold score {value.strip()!r} is not a number; fix or restore the file"
        ) from None


def _require(path: Path, task: str) -> None:
    if not path.exists():
        raise LitSrlError(f"{task}: {path} not found; {_HOW_TO_GET_DATA}")


def no_rows_error(path: os.PathLike | str, what: str, how_to_get_data: str = _HOW_TO_GET_DATA) -> LitSrlError:
    """The error for an evaluation file with nothing to score: naming the file and the fix.

    Empty evaluation data is never scored as nothing: a task with no rows would give no score
    (an ``eval`` JSON without numbers, a ``fit`` that never validates)."""
    return LitSrlError(f"{path} holds no {what}; fix or restore the file ({how_to_get_data})")


def load_yearly(name: str, folder: Path) -> STSTask:
    """STS12–16: every subset, pairs with an empty gold line dropped; only the first two columns
    of an input line are used."""
    s1, s2, scores, subsets = [], [], [], []
    for subset in YEARLY_SUBSETS[name]:
        input_path = folder / f"STS.input.{subset}.txt"
        gold_path = folder / f"STS.gs.{subset}.txt"
        _require(input_path, name)
        _require(gold_path, name)
        inputs = input_path.read_text(encoding="utf-8").splitlines()
        golds = gold_path.read_text(encoding="utf-8").splitlines()
        if len(inputs) != len(golds):
            raise LitSrlError(
                f"{input_path} has {len(inputs)} lines but {gold_path} has {len(golds)}; "
                f"the two files must align line by line"
            )
        n_before = len(scores)
        for line_no, (line, gold) in enumerate(zip(inputs, golds), start=1):
            columns = line.split("\t")
            if len(columns) < 2:
                raise LitSrlError(
                    f"{input_path}:{line_no}: expected two tab-separated sentences, found "
                    f"{len(columns)} column; fix or restore the file"
                )
            if gold == "":
                continue
            scores.append(_score(gold, gold_path, line_no))
            s1.append(_text(columns[0]))
            s2.append(_text(columns[1]))
            subsets.append(subset)
        if len(scores) == n_before:
            raise no_rows_error(gold_path, f"gold score for the pairs of {input_path.name}")
    return STSTask(name, "test", s1, s2, np.array(scores, dtype=np.float64), subsets)


def _load_columns(
    name: str, split: str, path: Path, cols: tuple[int, int, int], header: bool
) -> STSTask:
    """A tab-separated file with sentence columns ``cols[0]``, ``cols[1]`` and score ``cols[2]``.

    Lines are ``strip()``-ped and split on tabs with no quoting (SentEval); blank lines are skipped.
    """
    _require(path, name)
    need = max(cols) + 1
    s1, s2, scores = [], [], []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if header and line_no == 1 or not line.strip():
                continue
            text = line.strip().split("\t")
            if len(text) < need:
                raise LitSrlError(
                    f"{path}:{line_no}: expected at least {need} tab-separated columns, found "
                    f"{len(text)}; fix or restore the file"
                )
            scores.append(_score(text[cols[2]], path, line_no))
            s1.append(_text(text[cols[0]]))
            s2.append(_text(text[cols[1]]))
    if not scores:
        raise no_rows_error(path, "sentence pair" + (" below its header" if header else ""))
    return STSTask(name, split, s1, s2, np.array(scores, dtype=np.float64), [split] * len(scores))


def load_task(name: str, split: str = "test", data_dir: Optional[os.PathLike | str] = None) -> STSTask:
    """Load one task's split from ``<data_dir>/senteval`` (``data_dir`` defaults to
    :func:`default_data_dir`)."""
    check_choice("task", name, TASKS)
    if split not in SPLITS[name]:
        raise LitSrlError(
            f"task {name} has no {split!r} split (it has: {', '.join(SPLITS[name])}); "
            f"use --split {SPLITS[name][-1]} or leave {name} out of --tasks"
        )
    root = senteval_dir(data_dir)
    if name in YEARLY_SUBSETS:
        folder = root / "STS" / f"{name}-en-test"
        if not folder.is_dir():
            raise LitSrlError(f"{name}: folder {folder} not found; {_HOW_TO_GET_DATA}")
        return load_yearly(name, folder)
    if name == "STSBenchmark":
        return _load_columns(name, split, root / "STS" / "STSBenchmark" / _STSB_FILES[split], (5, 6, 4), False)
    return _load_columns(name, split, root / "SICK" / _SICK_FILES[split], (1, 2, 3), True)


def default_tasks(split: str = "test") -> tuple[str, ...]:
    """All seven tasks for ``test``; STS-B and SICK-R (the tasks that have it) otherwise."""
    return TASKS if split == "test" else tuple(t for t in TASKS if split in SPLITS[t])


def parse_tasks(tasks: Optional[str | Iterable[str]], split: str = "test") -> list[str]:
    """A comma-separated string or list of task names → a checked, de-duplicated list."""
    if tasks is None:
        return list(default_tasks(split))
    if isinstance(tasks, str):
        tasks = tasks.split(",")
    names = [t.strip() for t in tasks if t.strip()]
    if not names:
        raise LitSrlError(f"no task given; valid choices: {', '.join(TASKS)}")
    for name in names:
        check_choice("task", name, TASKS)
    return list(dict.fromkeys(names))


def load_tasks(
    tasks: Optional[str | Sequence[str]] = None,
    split: str = "test",
    data_dir: Optional[os.PathLike | str] = None,
) -> list[STSTask]:
    """Load several tasks (default: :func:`default_tasks` for ``split``)."""
    check_choice("split", split, ("train", "dev", "test"))
    return [load_task(name, split, data_dir) for name in parse_tasks(tasks, split)]

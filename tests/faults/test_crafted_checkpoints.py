"""Checkpoint data cannot write outside its folder: crafted tokenizer file names are refused.

A checkpoint's ``lit_srl.tokenizer_files`` maps names to bytes; ``eval --model`` and ``export`` write
them into a temporary folder to rebuild the tokenizer. Names like ``/abs/path`` or ``../../x`` made
them write anywhere (a ``.pth`` file planted in site-packages runs at the next Python start). What
must survive a crafted checkpoint: every file outside the command's own output — nothing is
written there, not even in the temporary folder's parents — and the user gets one ``error:`` line
naming the checkpoint, through ``eval``, ``export`` and ``fit --ckpt_path`` (with and without
``--config``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

from lit_srl.cli import main
from support.helpers import fit_args

PLANTED = b"import os; os.system('echo planted')\n"
NAMES = {
    "absolute": lambda tmp: str(tmp / "outside" / "planted.pth"),
    "parent": lambda tmp: "../../planted.pth",
    "subfolder": lambda tmp: "sub/planted.pth",
    "unknown": lambda tmp: "planted.pth",
}


@pytest.fixture(params=sorted(NAMES))
def crafted(request, tiny_checkpoint, tmp_path, monkeypatch) -> Path:
    """A real lit_srl checkpoint plus one tokenizer 'file' whose name is the parameter's."""
    (tmp_path / "outside").mkdir()
    deep = tmp_path / "tmp" / "deep"  # the temporary folder's parents are inside tmp_path: watched
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    ckpt["lit_srl"]["tokenizer_files"][NAMES[request.param](tmp_path)] = PLANTED
    path = tmp_path / "crafted.ckpt"
    torch.save(ckpt, path)
    return path


def files_under(root: Path, skip: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and skip not in p.parents}


def assert_refused(rc: int, err: str, path: Path, before: set, tmp_path: Path, run: Path) -> None:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(lines) == 1, err[-2000:]
    assert str(path) in lines[0] and "tokenizer file" in lines[0], lines[0]
    assert files_under(tmp_path, run) == before  # nothing new anywhere, the planted file least of all
    assert not list(tmp_path.rglob("planted.pth"))


@pytest.mark.parametrize("command", ["eval", "export", "fit"])
def test_crafted_tokenizer_names_are_refused_in_one_line(command, crafted, data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    before = files_under(tmp_path, run)
    if command == "eval":
        args = ["eval", "--model", str(crafted), "--tasks", "STSBenchmark", "--split", "dev", "--data-dir", str(data_dir)]
    elif command == "export":
        args = ["export", str(crafted), str(tmp_path / "exported")]
    else:  # no --config: the config stored in the checkpoint (read first, before any model is built)
        args = ["fit", f"--ckpt_path={crafted}", f"--trainer.default_root_dir={run}"]
    rc = main(args)
    assert_refused(rc, capsys.readouterr().err, crafted, before, tmp_path, run)


def test_lightnings_own_load_refuses_crafted_tokenizer_names(tiny_checkpoint, tiny_bert, tmp_path, capsys):
    """``fit --config … --ckpt_path`` reads the file through the trainer's CheckpointIO: refused there too."""
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    ckpt["lit_srl"]["tokenizer_files"]["../../planted.pth"] = PLANTED
    crafted = tmp_path / "crafted.ckpt"
    torch.save(ckpt, crafted)
    run = tmp_path / "run"
    before = files_under(tmp_path, run)
    rc = main(fit_args(run, str(tiny_bert), f"--ckpt_path={crafted}", steps=3, val_every=100))
    assert_refused(rc, capsys.readouterr().err, crafted, before, tmp_path, run)

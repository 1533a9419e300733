"""A full disk while a checkpoint is written: one line, and the previous checkpoint survives.

Lightning's writer copied the new checkpoint over ``last.ckpt`` from ``$TMPDIR``; when the run
folder's disk filled up during the copy the previous good ``last.ckpt`` was destroyed and the fit
ended in a long traceback. What must survive: the previous ``last.ckpt``, byte for byte, with no
temporary file left beside it; the user gets one ``error:`` line naming the folder and the free
space the checkpoint needs.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

import pytest
import torch

from lit_srl.atomic import leftovers
from lit_srl.checkpoint_io import AtomicCheckpointIO
from lit_srl.cli import main
from lit_srl.errors import LitSrlError
from support.filesystems import small_tmpfs
from support.helpers import fit_args


class _FillsUp:
    """A file whose writes fail with ENOSPC once ``room`` bytes are written (a fake full disk)."""

    def __init__(self, file, room: int) -> None:
        self.file, self.room = file, room

    def write(self, data) -> int:
        if self.file.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def test_a_checkpoint_write_on_a_full_disk_keeps_the_previous_one(tiny_checkpoint, tmp_path, monkeypatch):
    """A fake full disk (a write failing with ENOSPC halfway), for machines where no tmpfs can be mounted."""
    last = tmp_path / "last.ckpt"
    shutil.copy(tiny_checkpoint, last)
    before = last.read_bytes()
    checkpoint = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FillsUp(real_fdopen(fd, *a, **k), len(before) // 2))
    with pytest.raises(LitSrlError) as info:
        AtomicCheckpointIO().save_checkpoint(checkpoint, last)
    message = str(info.value)
    assert "\n" not in message and f"no space left in {tmp_path}" in message and "MB free" in message, message
    assert last.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_fit_on_a_disk_that_fills_up_says_so_in_one_line_and_keeps_last_ckpt(tiny_bert, tmp_path, monkeypatch, capsys):
    """A real full disk: the run folder on a 20 MB tmpfs holds one checkpoint of the tiny BERT (13 MB),
    not two; last.ckpt is written after every step, so the second write fills the disk."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    with small_tmpfs(tmp_path / "mnt", megabytes=20) as mounted:
        if mounted is None:
            pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN); the fake full disk above still runs")
        args = fit_args(mounted, str(tiny_bert), "--last_checkpoint.every_n_train_steps=1", steps=3, val_every=100)
        assert main(args) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        (last,) = mounted.rglob("last.ckpt")
        assert len(errors) == 1 and f"no space left in {last.parent}" in errors[0], errors
        assert "needs about" in errors[0] and "the previous last.ckpt is unchanged" in errors[0], errors[0]
        assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 1
        assert leftovers(last.parent) == []


def test_a_full_disk_met_by_another_writer_of_a_fit_is_one_line(monkeypatch, capsys):
    """TensorBoard's event files or Lightning's config.yaml filling the disk: one line naming the file."""
    import lit_srl.cli as cli

    def fit_that_fills_the_disk(args):
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/events.out.tfevents")
        except OSError as exc:
            raise RuntimeError("the event writer failed") from exc

    monkeypatch.setattr(cli, "lightning_cli", fit_that_fills_the_disk)
    assert main(["fit", "--trainer.max_steps=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no space left on the disk writing /runs/x/events.out.tfevents") and "\n" not in err

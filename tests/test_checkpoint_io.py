"""Every file a later run trusts is written atomically, in its own folder, readable by teammates.

:mod:`lit_srl.atomic` writes a temporary file beside the target, fsyncs it and renames it over the
target; :class:`lit_srl.checkpoint_io.AtomicCheckpointIO` does so for every checkpoint of a trainer
the CLI builds. A failed write leaves the previous file as it was and no temporary file behind;
the mode is the user's umask's (``mkstemp`` gave 0600).
"""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch
from lightning.pytorch.plugins.environments import LightningEnvironment
from lightning.pytorch.plugins.io import AsyncCheckpointIO, TorchCheckpointIO

from lit_srl.atomic import atomic_open, leftovers, remove_leftovers, write_text_atomic
from lit_srl.checkpoint_io import AtomicCheckpointIO, with_atomic_checkpoints
from lit_srl.cli import lightning_cli
from lit_srl.sweep.record import write_json
from support.helpers import REPO


@pytest.fixture
def umask_002():
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "plan.json"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_open(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_records_of_a_run_get_the_users_umask_not_0600(tmp_path, umask_002):
    """result.json (write_json), plan.json and config.yaml (write_text_atomic), checkpoints."""
    write_json(tmp_path / "result.json", {"scores": {"avg": 1.0}})
    write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
    AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(2)}, tmp_path / "last.ckpt")
    for name in ("result.json", "config.yaml", "last.ckpt"):
        assert mode(tmp_path / name) == 0o664, name
    assert json.loads((tmp_path / "result.json").read_text()) == {"scores": {"avg": 1.0}}


def test_leftovers_are_only_the_temporary_files_of_interrupted_writes(tmp_path):
    for name in (".last.ckpt.0123abcd.tmp", ".best-step3.ckpt.89abcdef.tmp", "last.ckpt", ".hidden.tmp", "x.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(p.name for p in leftovers(tmp_path, "last.ckpt")) == [".last.ckpt.0123abcd.tmp"]
    assert len(remove_leftovers(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden.tmp", "last.ckpt", "x.tmp"]


def test_a_checkpoint_write_removes_the_leftovers_of_its_interrupted_predecessors(tmp_path):
    (tmp_path / ".last.ckpt.0123abcd.tmp").write_bytes(b"half a checkpoint")
    AtomicCheckpointIO().save_checkpoint({"w": torch.ones(3)}, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.equal(torch.load(tmp_path / "last.ckpt", weights_only=True)["w"], torch.ones(3))


def test_the_users_own_checkpoint_io_and_other_plugins_are_kept():
    environment, own = LightningEnvironment(), TorchCheckpointIO()
    plugins = with_atomic_checkpoints([environment])
    assert plugins[0] is environment and isinstance(plugins[1], AtomicCheckpointIO)
    assert with_atomic_checkpoints([environment, own]) == [environment, own]
    wrapping = AsyncCheckpointIO()
    assert with_atomic_checkpoints(wrapping) == [wrapping]
    assert isinstance(wrapping.checkpoint_io, AtomicCheckpointIO)  # it writes through ours


def test_the_cli_trainer_saves_checkpoints_atomically_beside_a_users_plugin(tiny_bert):
    cli = lightning_cli(
        ["--config", str(REPO / "configs" / "quickstart.yaml"), f"--model.backbone={tiny_bert}",
         "--trainer.plugins=lightning.pytorch.plugins.environments.LightningEnvironment"],
        run=False,
    )
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert isinstance(cli.trainer._accelerator_connector.cluster_environment, LightningEnvironment)

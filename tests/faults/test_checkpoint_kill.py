"""A SIGKILL at any moment of a checkpoint write leaves a whole last.ckpt, on another filesystem too.

Lightning's own writer put the new file in ``$TMPDIR`` and moved it: with the run folder on another
filesystem (NFS or Lustre, a node-local ``$TMPDIR``) the move is a copy over ``last.ckpt``, and a
SIGKILL during it left ``last.ckpt`` at 0 bytes (4 of 4 tries) and ``--ckpt_path auto`` restarted
from step 0. What must survive: after every kill ``last.ckpt`` is the previous complete checkpoint
or the new complete one (never empty, never truncated), and ``--ckpt_path auto`` resumes from it,
removing the temporary files of the interrupted writes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from pathlib import Path

import torch

from lit_srl.atomic import leftovers
from lit_srl.checkpoint import check_resumable
from lit_srl.checkpoint_io import AtomicCheckpointIO
from lit_srl.cli import main
from lit_srl.errors import LitSrlError
from support.filesystems import same_filesystem, small_tmpfs
from support.helpers import fit_args
from support.recorder import read_records

TRIES = 12


def write_until_killed(io, checkpoint: dict, path: Path) -> None:
    """In a forked child: save ``checkpoint`` over ``path`` again and again (write number i in it)."""
    try:
        for i in range(1, 10_000):
            checkpoint["lit_srl_write"] = i
            io.save_checkpoint(checkpoint, path)
    finally:
        os._exit(0)


def kill_during_writes(io, checkpoint: dict, path: Path, tries: int, seed: int = 0) -> list[dict]:
    """Fork a writer, SIGKILL it after a random delay (0 to 3 write durations), ``tries`` times; for each
    try, whether a write was interrupted (a temporary file was left) and the size of ``path`` after."""
    started = time.perf_counter()
    io.save_checkpoint(checkpoint, path.with_name("timing.ckpt"))
    write_seconds = time.perf_counter() - started
    path.with_name("timing.ckpt").unlink()
    rng = random.Random(seed)
    outcomes = []
    for _ in range(tries):
        pid = os.fork()
        if pid == 0:
            write_until_killed(io, checkpoint, path)
        time.sleep(rng.uniform(0.0, 3 * write_seconds))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        interrupted = bool(leftovers(path.parent, path.name)) or any(Path(tempfile.gettempdir()).glob("tmp*"))
        outcomes.append({"interrupted": interrupted, "size": path.stat().st_size if path.exists() else 0,
                         "whole": is_whole(path)})
    return outcomes


def is_whole(path: Path) -> bool:
    try:
        check_resumable(path)
    except LitSrlError:
        return False
    return True


def test_sigkill_during_checkpoint_writes_leaves_a_whole_last_ckpt_and_auto_resumes(
        tiny_checkpoint, tiny_bert, tmp_path, monkeypatch):
    tmpdir = tmp_path / "tmpdir"  # $TMPDIR on the test's filesystem …
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    with small_tmpfs(tmp_path / "mnt", megabytes=200) as mounted:
        root = (mounted or tmp_path) / "run"  # … the run folder on a tmpfs where the test may mount one
        last = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
        last.parent.mkdir(parents=True)
        shutil.copy(tiny_checkpoint, last)  # the previous good checkpoint
        assert mounted is None or not same_filesystem(root, tmpdir)
        checkpoint = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)

        outcomes = kill_during_writes(AtomicCheckpointIO(), checkpoint, last, TRIES)
        whole = sum(o["whole"] and o["size"] > 0 for o in outcomes)
        interrupted = sum(o["interrupted"] for o in outcomes)
        print(f"SIGKILL during checkpoint writes ({'tmpfs' if mounted else 'same filesystem'} run folder, "
              f"TMPDIR apart): {TRIES} tries, {interrupted} interrupted a write, last.ckpt whole after {whole}")
        assert interrupted >= 1  # the kills did hit writes
        assert whole == TRIES, outcomes

        probe = tmp_path / "probe.jsonl"
        resumed = fit_args(root, str(tiny_bert), "--ckpt_path=auto", "--trainer.callbacks+=support.optimizer_probe.OptimizerProbe",
                           f"--trainer.callbacks.path={probe}", steps=3, val_every=100)
        assert main(resumed) == 0
        assert [r["step"] for r in read_records(probe)] == [2]  # resumed at step 2, not restarted at 0
        assert leftovers(last.parent) == []

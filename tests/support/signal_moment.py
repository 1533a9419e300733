"""A test-only callback: a stop signal to the fit's whole process group at chosen moments of a run.

What ``scontrol requeue``, SLURM pre-emption or ``kill -TERM -PGID`` do: every process of the fit
— the DataLoader workers included — gets the signal at once. A moment is a Lightning hook at an
optimizer step (and a batch of that hook's loop), written ``MOMENT@STEP`` or ``MOMENT@STEP/BATCH``,
so a test names it exactly and reproducibly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import lightning as L

#: The moments a signal can be sent at (``global_step`` is the number of optimizer steps done).
MOMENTS = {
    "train_batch_start": "between steps: before training step STEP + 1",
    "train_batch_end": "after optimizer step STEP, before its dev evaluation",
    "validation_batch": "inside the dev evaluation of step STEP, before its batch BATCH",
    "validation_end": "after the dev evaluation of step STEP, before its checkpoints are written",
    "checkpoint": "during a checkpoint write (its state gathered, its file not yet written): the BATCH-th at step STEP",
    "test_batch": "inside the test of fit --result, before its batch BATCH",
}


def parse_moment(text: str) -> tuple[str, int, int]:
    """``"validation_batch@4/3"`` → ``("validation_batch", 4, 3)``."""
    match = re.fullmatch(r"(\w+)@(\d+)(?:/(\d+))?", text)
    if not match or match.group(1) not in MOMENTS:
        raise ValueError(f"moment {text!r}: write MOMENT@STEP[/BATCH], MOMENT one of {', '.join(MOMENTS)}")
    return match.group(1), int(match.group(2)), int(match.group(3) or 0)


class SignalAt(L.Callback):
    """Send ``signal_name`` at each moment of ``at``, once: a marker file in ``marker_dir`` remembers
    it, so the same command rerun after the stop (``--ckpt_path auto``, a requeue) goes on to the
    next moment.

    ``send``: ``group`` — to this process group, from another process (``kill -TERM -- -PGID``), as
    a scheduler sends it: PyTorch's loader workers exit quietly on a SIGTERM from their own parent
    (``os.killpg`` here), not on one from anyone else; ``requeue`` — ``scontrol requeue`` this
    SLURM job, which sends SIGTERM to every process of its steps (``signal_name`` unused); ``self``
    — to this process only (one DDP rank; ``rank`` says which, the others send nothing).
    """

    def __init__(self, at: list[str], marker_dir: str, signal_name: str = "SIGTERM", send: str = "group",
                 rank: int = 0) -> None:
        self.moments = [parse_moment(text) for text in at]
        self.marker_dir, self.signal_name, self.send, self.rank = marker_dir, signal_name, send, rank
        self._writes: dict[int, int] = {}

    def _fire(self, trainer, moment: str, batch: int = 0) -> None:
        here = (moment, trainer.global_step, batch)
        if here not in self.moments or (self.send == "self" and trainer.global_rank != self.rank):
            return
        marker = os.path.join(self.marker_dir, "{}@{}-{}.fired".format(*here))
        if os.path.exists(marker):
            return
        open(marker, "w").close()
        if self.send == "requeue":
            job = os.environ["SLURM_JOB_ID"]
            subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True)
        elif self.send == "self":
            os.kill(os.getpid(), signal.Signals[self.signal_name])
        else:
            name = signal.Signals[self.signal_name].name.removeprefix("SIG")
            subprocess.run(["kill", f"-{name}", "--", f"-{os.getpgrp()}"])  # kill gets it too: no check

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._fire(trainer, "train_batch_start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._fire(trainer, "train_batch_end")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._fire(trainer, "validation_batch", batch_idx)

    def on_validation_end(self, trainer, pl_module) -> None:
        self._fire(trainer, "validation_end")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        count = self._writes.get(trainer.global_step, 0)
        self._writes[trainer.global_step] = count + 1
        self._fire(trainer, "checkpoint", count)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._fire(trainer, "test_batch", batch_idx)

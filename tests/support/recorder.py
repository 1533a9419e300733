"""A test-only callback: records each training batch and loss, and can kill or signal its process."""

from __future__ import annotations

import json
import os
import signal

import lightning as L


class BatchRecorder(L.Callback):
    """Appends ``{"step", "fingerprint", "loss"}`` per training batch to ``path`` (JSON lines).

    ``signal_at_step``: after that optimizer step, send ``signal_name`` to this very process
    (SIGKILL: a crash with no chance to save; SIGTERM/SIGUSR1: a pre-emption notice); with
    ``signal_once`` only the first time (a marker file beside ``path`` remembers it).
    """

    def __init__(self, path: str, signal_at_step: int = 0, signal_name: str = "SIGKILL", signal_once: bool = False) -> None:
        self.path = path
        self.signal_at_step = signal_at_step
        self.signal_name = signal_name
        self.signal_once = signal_once

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        ids = batch["input_ids"]
        record = {
            "step": trainer.global_step,
            "fingerprint": [int(ids.sum()), int((ids * (1 + batch["attention_mask"].cumsum(1))).sum())],
            "loss": float(outputs["loss"]),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.signal_at_step and trainer.global_step == self.signal_at_step:
            if self.signal_once:  # a crash that happens once: the resumed attempt goes on
                marker = self.path + ".signalled"
                if os.path.exists(marker):
                    return
                open(marker, "w").close()
            os.kill(os.getpid(), getattr(signal, self.signal_name))


def read_records(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]

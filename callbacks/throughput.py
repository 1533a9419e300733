"""Training throughput in sentences per second, shown in the progress bar."""

from __future__ import annotations

import time

import lightning as L
import torch

from lit_srl import metric_names as names
from lit_srl.log_steps import is_logging_step


class SentencesPerSecond(L.Callback):
    """Logs ``train/sent_per_s``: sentences of the global batch (all devices) per second of step.

    The rate is an exponential moving average (``smoothing``) over optimizer steps, measured from
    the start of one training batch to the start of the next, so data loading is included; it is
    logged at the logging steps (:func:`lit_srl.log_steps.is_logging_step`).
    """

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = smoothing
        self._last: float | None = None
        self._rate: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None:
            sentences = batch["input_ids"].size(0) * trainer.world_size
            rate = sentences / max(now - self._last, 1e-9)
            self._rate = rate if self._rate is None else self.smoothing * self._rate + (1 - self.smoothing) * rate
            if is_logging_step(trainer):
                # a host tensor: a float would be copied to the device each step, and Lightning
                # reads progress-bar values back every step (two host-device syncs a step on a GPU)
                pl_module.log(names.SENTENCES_PER_SECOND, torch.tensor(self._rate), prog_bar=True, batch_size=1)
        self._last = now

    def on_validation_end(self, trainer, pl_module) -> None:
        # Evaluation time is not training time: restart the clock after it.
        self._last = None

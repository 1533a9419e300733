"""How long the end of a fit takes: from the end of training to ``trainer.fit`` returning."""

from __future__ import annotations

import time
from typing import Optional

import lightning as L


class EndOfFitClock(L.Callback):
    """Stamps ``on_train_end`` (the last step, its evaluation and checkpoints are done), so that
    :meth:`seconds` after ``trainer.fit`` returned is the fit's teardown: DataLoader workers and
    pin-memory thread shut down, loggers closed, the strategy torn down. ``fit --result`` adds it
    and records the figure as ``train.end_of_fit_seconds``: it should be well under a second.
    """

    def __init__(self) -> None:
        self.train_end: Optional[float] = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_end = time.perf_counter()

    def seconds(self) -> Optional[float]:
        """Seconds since training ended (None if it never did: an interrupted fit)."""
        return None if self.train_end is None else time.perf_counter() - self.train_end

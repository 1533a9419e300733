"""A test-only callback: BatchRecorder whose steps take at least ``seconds`` (a fit that is
reliably still inside a step when a test signals it)."""

from __future__ import annotations

import time

from support.recorder import BatchRecorder


class SlowRecorder(BatchRecorder):
    """Records each training batch (:class:`BatchRecorder`), then sleeps ``seconds``."""

    def __init__(self, path: str, seconds: float = 1.0) -> None:
        super().__init__(path)
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        time.sleep(self.seconds)

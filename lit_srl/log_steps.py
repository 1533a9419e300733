"""Which training steps write their scalars: the one rule the module and the callbacks share.

A value logged with ``LightningModule.log`` is written to the loggers only at Lightning's logging
steps (every ``trainer.log_every_n_steps``), and each call costs host time (Lightning's result
collection) in a step the GPU could otherwise run ahead of. So per-step values are logged at those
steps only; the progress bar keeps showing the last value in between.
"""

from __future__ import annotations

import lightning as L


def is_logging_step(trainer: L.Trainer) -> bool:
    """True in the hooks of a training step whose logged values reach the loggers (from
    ``on_train_batch_start`` to ``on_train_batch_end``), or in every step where
    ``log_every_n_steps`` is 0 (nothing is written then; the progress bar still shows them)."""
    return not trainer.log_every_n_steps or trainer._logger_connector.should_update_logs

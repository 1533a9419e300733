"""A test-only callback: records the learning rate each training step uses and the loss's temperature."""

from __future__ import annotations

import json

import lightning as L


class OptimizerProbe(L.Callback):
    """Appends ``{"step", "lr", "initial_lr", "weight_decay", "temperature"}`` per training batch to
    ``path`` (JSON lines), read from the optimizer's first param group before the step is taken."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        group = trainer.optimizers[0].param_groups[0]
        record = {
            "step": trainer.global_step,
            "lr": group["lr"],
            "initial_lr": group.get("initial_lr"),
            "weight_decay": group["weight_decay"],
            "temperature": getattr(pl_module.loss_fn, "temperature", None),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

"""Lightning's LearningRateMonitor without its upload of the rates to the device."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor


class LearningRateMonitor(LightningLearningRateMonitor):
    """:class:`lightning.pytorch.callbacks.LearningRateMonitor`, the same names, values and steps,
    except that the rates it puts in ``trainer.callback_metrics`` are host tensors.

    Lightning's makes each one ``torch.tensor(lr, device=root_device)``: on a GPU a copy from host
    memory that waits until the device has run everything queued, once every logging step (the
    learning rate is a Python float; nothing needs it on the device). Same arguments.
    """

    def _extract_stats(self, trainer: L.Trainer, interval: str) -> dict[str, float]:
        """Lightning 2.6's ``_extract_stats``, with host tensors in ``callback_metrics``."""
        latest_stat: dict[str, float] = {}
        scheduler_keys, with_scheduler, with_scheduler_types = self._find_names_from_schedulers(trainer.lr_scheduler_configs)
        self._remap_keys(scheduler_keys)
        for name, config in zip(scheduler_keys, trainer.lr_scheduler_configs):
            if interval in [config.interval, "any"]:
                latest_stat.update(self._get_optimizer_stats(config.scheduler.optimizer, name))
        optimizer_keys, without_scheduler = self._find_names_from_optimizers(
            trainer.optimizers, seen_optimizers=with_scheduler, seen_optimizer_types=with_scheduler_types
        )
        self._remap_keys(optimizer_keys)
        for optimizer, names in zip(without_scheduler, optimizer_keys):
            latest_stat.update(self._get_optimizer_stats(optimizer, names))
        trainer.callback_metrics.update({name: torch.tensor(value) for name, value in latest_stat.items()})
        return latest_stat

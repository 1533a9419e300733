"""lit_srl.callbacks.LearningRateMonitor logs what Lightning's does, and uploads nothing."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers.logger import Logger

from lit_srl.callbacks import LearningRateMonitor


class Recorder(Logger):
    name, version = "recorder", 0

    def __init__(self) -> None:
        super().__init__()
        self.metrics: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step=None) -> None:
        self.metrics.append((step, {k: v for k, v in metrics.items() if k.startswith("lr-")}))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


class TwoGroups(BoringModel):
    """Two parameter groups with their own rates and momenta, under a decaying schedule."""

    def configure_optimizers(self):
        layer = self.layer
        optimizer = torch.optim.SGD([{"params": [layer.weight], "lr": 0.1}, {"params": [layer.bias], "lr": 0.01}], momentum=0.9)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5), "interval": "step"}}


def logged(monitor: L.Callback, tmp_path) -> tuple[list, dict]:
    torch.manual_seed(0)
    recorder = Recorder()
    trainer = L.Trainer(
        default_root_dir=tmp_path, max_steps=6, log_every_n_steps=2, logger=recorder, callbacks=[monitor],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(TwoGroups())
    lr_metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("lr-")}
    return [(step, m) for step, m in recorder.metrics if m], lr_metrics


def test_the_monitor_logs_lightnings_names_values_and_steps(tmp_path):
    for interval in ("step", None):
        ours, our_metrics = logged(LearningRateMonitor(logging_interval=interval, log_momentum=True), tmp_path / "ours")
        theirs, their_metrics = logged(LightningLearningRateMonitor(logging_interval=interval, log_momentum=True), tmp_path / "theirs")
        assert ours == theirs and len(ours) == 3, ours
        assert our_metrics.keys() == their_metrics.keys() and len(our_metrics) == 4  # two groups: rate and momentum
        for name, value in our_metrics.items():
            assert torch.equal(value, their_metrics[name].cpu()), name


def test_the_rates_in_callback_metrics_stay_host_tensors(tmp_path):
    """Lightning's uploads each to the root device (a blocking copy on a GPU); ours makes
    ``torch.tensor(lr)`` with no device, which the CPU sync counter tells apart (a host value)."""
    from support.host_syncs import HostSyncCounter

    counter = HostSyncCounter()

    def counted(base: type) -> L.Callback:
        class Counted(base):
            def on_train_batch_start(self, trainer, *args, **kwargs):
                counter.start()
                try:
                    super().on_train_batch_start(trainer, *args, **kwargs)
                finally:
                    counter.stop()

        return Counted(logging_interval="step")

    logged(counted(LearningRateMonitor), tmp_path / "ours")
    assert counter.take() == []
    logged(counted(LightningLearningRateMonitor), tmp_path / "theirs")
    assert [kind for kind, _ in counter.take()] == ["tensor"] * 6  # two groups' rates at each of 3 logging steps

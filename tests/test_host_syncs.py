"""A training step that does not log never makes the host wait for the device (issue 17).

The GPU can only run ahead of Python when nothing in the step asks for a tensor's value. On the
CPU no device tells when the host would wait, so :class:`support.host_syncs.HostSyncCounter`
patches what would (``bool(t)``, ``t.item()``, ``float(t)``, ``t.tolist()``, ``t.cpu()``, masks,
``torch.tensor(x, device=…)``, …) and names the caller of each. A fit of the quickstart recipe
(the learning-rate and gradient monitors, the throughput, the progress bar on) counts them step by
step; its skip machinery and loss logging are the model's (lit_srl/model.py, lit_srl/nonfinite.py).
"""

from __future__ import annotations

import collections
import os

import lightning as L
import pytest
import torch

from support.helpers import REPO, fit_args, run_cli
from support.host_syncs import CudaSyncCounter, HostSyncCounter, outside


class CountPerStep(L.Callback):
    """Counts the syncs of each optimizer step, from its batch's start to the next one's."""

    counter: HostSyncCounter = None  # set by the test (the CLI builds the callback)
    steps: list = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._close(trainer)
        logs = (trainer.global_step + 1) % trainer.log_every_n_steps == 0
        type(self).steps.append({"step": trainer.global_step, "logs": logs, "records": None})
        self.counter.take()
        self.counter.start()

    def on_train_end(self, trainer, pl_module) -> None:
        self._close(trainer)

    def _close(self, trainer) -> None:
        self.counter.stop()
        if type(self).steps and type(self).steps[-1]["records"] is None:
            type(self).steps[-1]["records"] = self.counter.take()


def count_fit(root, backbone: str, counter, *extra: str) -> list[dict]:
    """An 8-step fit logging every 4 steps, its syncs counted step by step."""
    CountPerStep.steps = []
    CountPerStep.counter = counter
    args = fit_args(
        root, backbone, "--model.pooler=cls",
        "--trainer.callbacks+=test_host_syncs.CountPerStep",
        "--trainer.log_every_n_steps=4", "--trainer.enable_progress_bar=true", *extra,
        steps=8, val_every=100,
    )
    try:
        assert run_cli(args) == 0
    finally:
        counter.stop()
    return CountPerStep.steps


@pytest.fixture(scope="module")
def counted_fit(tmp_path_factory, tiny_bert, data_dir):
    return count_fit(tmp_path_factory.mktemp("syncs"), str(tiny_bert), HostSyncCounter())


def quiet(steps) -> list[dict]:
    """Steps that neither log nor precede a logging step (whose callbacks start in this step's
    window), after the first (which builds the optimizer state)."""
    logging, last = {s["step"] for s in steps if s["logs"]}, steps[-1]["step"]
    return [s for s in steps if 0 < s["step"] < last and not {s["step"], s["step"] + 1} & logging]


def test_a_step_that_does_not_log_makes_no_host_sync_beyond_a_bare_loop(counted_fit):
    steps = quiet(counted_fit)
    assert [s["step"] for s in steps] == [1, 4, 5]
    for step in steps:
        assert outside(step["records"]) == {}, f"step {step['step']}"


def test_a_logging_step_reads_the_step_and_the_monitor_once_each(counted_fit):
    """train/loss and the skip counts come in one transfer; the gradient monitor's statistics in
    one more (its masks of the cosine matrix, lit_srl/losses/stats.py, are counted apart)."""
    logging = [s for s in counted_fit if s["logs"]]
    assert [s["step"] for s in logging] == [3, 7]
    for step in logging:
        files = collections.Counter()
        for (kind, where), count in outside(step["records"]).items():
            if not where.startswith(str(REPO / "lit_srl" / "losses")):
                files[os.path.basename(where.split(":")[0])] += count
        assert files == {"nonfinite.py": 1, "gradient_monitor.py": 1}, f"step {step['step']}: {outside(step['records'])}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_driver_sees_no_sync_in_a_step_that_does_not_log(cuda, tiny_bert, data_dir, tmp_path):
    """The same count from the driver (``torch.cuda.set_sync_debug_mode``), bf16-mixed."""
    steps = count_fit(tmp_path, str(tiny_bert), CudaSyncCounter(), "--trainer.accelerator=gpu", "--trainer.devices=1",
                      "--trainer.precision=bf16-mixed")
    for step in quiet(steps):
        assert outside(step["records"]) == {}, f"step {step['step']}"

"""A training step that does not log never makes the host wait for the device (issue 17).

The GPU can only run ahead of Python when nothing in the step asks for a tensor's value. On the
CPU no device tells when the host would wait, so :class:`support.host_syncs.HostSyncCounter`
patches what would (``bool(t)``, ``t.item()``, ``float(t)``, ``t.tolist()``, ``t.cpu()``, masks,
``torch.tensor(x, device=…)``, …) and names the caller of each. A fit of the quickstart recipe
(the learning-rate and gradient monitors, the throughput, the progress bar on) counts them step by
step; its skip machinery and loss logging are the model's (lit_srl/model.py, lit_srl/nonfinite.py).
"""

from __future__ import annotations

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


SYNCS = {
    "bool": lambda t, m: bool(t[0] > 0),
    "float": lambda t, m: float(t[0]),
    "int": lambda t, m: int(t[0]),
    "index": lambda t, m: [0, 1][t[0].long().clamp(0, 1)],
    "item": lambda t, m: t[0].item(),
    "tolist": lambda t, m: t.tolist(),
    "numpy": lambda t, m: t.numpy(),
    "cpu": lambda t, m: t.cpu(),
    "to cpu": lambda t, m: t.to("cpu"),
    "to device=cpu": lambda t, m: t.to(device="cpu", dtype=torch.float64),
    "copy to host": lambda t, m: torch.tensor([0.0, 0.0, 0.0, 0.0]).copy_(t),
    "mask index": lambda t, m: t[m],
    "mask assignment": lambda t, m: t.clone().__setitem__(m, 0.0),
    "nonzero": lambda t, m: m.nonzero(),
    "where of one": lambda t, m: torch.where(m),
    "masked_select": lambda t, m: t.masked_select(m),
    "torch.masked_select": lambda t, m: torch.masked_select(t, m),
    "argwhere": lambda t, m: torch.argwhere(m),
    "unique": lambda t, m: t.unique(),
    "equal": lambda t, m: t.equal(t),
    "allclose": lambda t, m: t.allclose(t),
    "repeat_interleave": lambda t, m: t.repeat_interleave(m.long()),
    "torch.repeat_interleave": lambda t, m: torch.repeat_interleave(m.long()),
    "tensor on a device": lambda t, m: torch.tensor(1.0, device=t.device),
    "new_tensor": lambda t, m: t.new_tensor([1.0]),
}
NO_SYNC = {
    "arithmetic": lambda t, m: (t * 2 + 1).sum(),
    "slice": lambda t, m: t[1:3],
    "masked where": lambda t, m: torch.where(m, t, 0).sum(),
    "dtype": lambda t, m: t.to(torch.float64),
    "like another tensor": lambda t, m: t.to(t),
    "repeat_interleave with output_size": lambda t, m: t.repeat_interleave(m.long(), output_size=2),
    "host value": lambda t, m: float(torch.tensor(2.0)),
    "fill": lambda t, m: torch.full((), 1.0, device=t.device),
    "histc": lambda t, m: torch.histc(t, bins=4, min=-1, max=1),
}


def records_of(call) -> list:
    """The counter's records of ``call(t, m)`` on a device tensor t (4,) and a mask m (4,)."""
    t, m = torch.tensor([0.5, -0.5, 0.25, 0.0]) * torch.ones(4), torch.tensor([True, False, True, False]) & torch.ones(4).bool()
    counter = HostSyncCounter()
    counter.start()
    try:
        call(t, m)
    finally:
        counter.stop()
    return counter.take()


@pytest.mark.parametrize("name", sorted(SYNCS))
def test_the_counter_records_each_call_that_makes_the_host_wait(name):
    records = records_of(SYNCS[name])
    assert len(records) == 1 and __file__ in records[0][1], records


@pytest.mark.parametrize("name", sorted(NO_SYNC))
def test_the_counter_records_nothing_for_work_that_stays_on_the_device(name):
    assert records_of(NO_SYNC[name]) == []


def quiet(steps) -> list[dict]:
    """The steps that do not log, after the first (which builds the optimizer state)."""
    last = steps[-1]["step"]
    return [s for s in steps if 0 < s["step"] < last and not s["logs"]]


def test_a_step_that_does_not_log_makes_no_host_sync_beyond_a_bare_loop(counted_fit):
    """Also not the step before a logging step, in whose window the learning-rate monitor of the
    logging step runs (lit_srl.callbacks.LearningRateMonitor; Lightning's uploads each rate)."""
    steps = quiet(counted_fit)
    assert [s["step"] for s in steps] == [1, 2, 4, 5, 6]
    for step in steps:
        assert outside(step["records"]) == {}, f"step {step['step']}"


def test_a_logging_step_reads_the_device_once(counted_fit):
    """train/loss, the skip counts and the gradient monitor's statistics (its histograms of the
    cosine matrix included) come to the host in one transfer (lit_srl/host_readout.py)."""
    logging = [s for s in counted_fit if s["logs"]]
    assert [s["step"] for s in logging] == [3, 7]
    for step in logging:
        records = outside(step["records"])
        assert sum(records.values()) == 1, f"step {step['step']}: {records}"
        (kind, where), = records
        assert kind == "tolist" and f"{os.sep}lit_srl{os.sep}host_readout.py:" in where, records


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_driver_sees_no_sync_in_a_step_that_does_not_log(cuda, tiny_bert, data_dir, tmp_path):
    """The same count from the driver (``torch.cuda.set_sync_debug_mode``), bf16-mixed."""
    steps = count_fit(tmp_path, str(tiny_bert), CudaSyncCounter(), "--trainer.accelerator=gpu", "--trainer.devices=1",
                      "--trainer.precision=bf16-mixed")
    for step in quiet(steps):
        assert outside(step["records"]) == {}, f"step {step['step']}"
    for step in (s for s in steps if s["logs"]):
        assert sum(outside(step["records"]).values()) <= 1, f"step {step['step']}: {outside(step['records'])}"

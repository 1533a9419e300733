"""HostReadout: what a logging step reads from the device comes in one transfer."""

from __future__ import annotations

import pytest
import torch

from lit_srl.host_readout import HostReadout, read_on_host
from support.host_syncs import HostSyncCounter


def device_values(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64) * torch.ones(len(values))  # not a host value


def test_each_user_gets_its_values_in_queue_order_from_one_transfer():
    readout, got = HostReadout(), []
    readout.add(device_values(1.0, 2.0), lambda host: got.append(("a", host)))
    readout.add(torch.ones(2, 2, dtype=torch.int64) * 3, lambda host: got.append(("b", host)))
    readout.add(device_values(0.5).to(torch.bfloat16)[0], lambda host: got.append(("c", host)))
    counter = HostSyncCounter()
    counter.start()
    try:
        readout.flush()
    finally:
        counter.stop()
    assert got == [("a", [1.0, 2.0]), ("b", [3.0, 3.0, 3.0, 3.0]), ("c", [0.5])]
    assert [kind for kind, _ in counter.take()] == ["tolist"] and len(readout) == 0
    readout.flush()  # empty: nothing to read
    assert len(got) == 3


def test_a_user_that_raises_leaves_an_empty_queue():
    readout = HostReadout()

    def fail(host):
        raise RuntimeError("limit")

    readout.add(device_values(1.0), fail)
    with pytest.raises(RuntimeError, match="limit"):
        readout.flush()
    assert len(readout) == 0


def test_read_on_host_queues_on_a_module_that_has_a_readout_else_reads_now():
    class Module:
        host_readout = HostReadout()

    got = []
    read_on_host(Module(), device_values(4.0), got.append)
    assert got == [] and len(Module.host_readout) == 1
    Module.host_readout.flush()
    read_on_host(object(), device_values(5.0), got.append)
    assert got == [[4.0], [5.0]]

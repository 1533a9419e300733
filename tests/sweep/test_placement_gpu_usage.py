"""``result.json``'s ``gpu``: peak memory per device and GPU time on CUDA; null on a CPU, not a number."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from lit_srl.sweep.record import gpu_usage


def test_a_cpu_run_records_no_gpu_use():
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    assert gpu_usage(trainer, 12.5) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_run_records_its_peak_memory_per_device_and_its_device_seconds(cuda):
    trainer = L.Trainer(accelerator="gpu", devices=1, logger=False, enable_checkpointing=False)
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device=trainer.strategy.root_device)  # 1/16 GiB
    usage = gpu_usage(trainer, 12.5)
    del block
    assert usage["seconds"] == 12.5  # one device × 12.5 s
    assert len(usage["peak_allocated_gib"]) == len(usage["peak_reserved_gib"]) == 1
    assert usage["peak_reserved_gib"][0] >= usage["peak_allocated_gib"][0] >= 0.0625

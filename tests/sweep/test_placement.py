"""Job slots of ``sweep run --jobs K [--runs-per-gpu N]``: GPUs and CPU threads, from fake device lists."""

from __future__ import annotations

from collections import Counter

import pytest

from lit_srl.errors import LitSrlError
from lit_srl.sweep.placement import Slot, place_slots, visible_gpus


def test_each_slot_gets_its_own_gpus_when_there_are_enough():
    slots = place_slots(2, 2, ["3", "4", "5", "6"])
    assert [slot.gpus for slot in slots] == [("3", "4"), ("5", "6")]
    assert [slot.env({}, 2)["CUDA_VISIBLE_DEVICES"] for slot in slots] == ["3,4", "5,6"]


def test_runs_share_a_gpu_up_to_runs_per_gpu():
    slots = place_slots(4, 1, ["0", "1"], runs_per_gpu=2)
    per_gpu = Counter(slot.gpus for slot in slots)
    assert per_gpu == {("0",): 2, ("1",): 2}  # spread over both GPUs, two runs each
    # a two-device run per slot, two runs per pair of GPUs
    assert {slot.gpus for slot in place_slots(4, 2, ["0", "1", "2", "3"], runs_per_gpu=2)} == {("0", "1"), ("2", "3")}


@pytest.mark.parametrize("jobs, devices, gpus, runs_per_gpu, message", [
    (2, 1, ["0"], 1, "--jobs 2 of 1 device(s) each needs 2 GPU places; 1 GPU visible (0) × --runs-per-gpu 1 give 1; "
                     "pass --runs-per-gpu 2"),
    (3, 2, ["0", "1"], 2, "pass --runs-per-gpu 3 to share GPUs, or --jobs 2"),
    (1, 2, ["0"], 4, "a run needs 2 GPUs and 1 GPU visible (0)"),
])
def test_too_few_gpus_is_one_line_naming_the_fix(jobs, devices, gpus, runs_per_gpu, message):
    with pytest.raises(LitSrlError) as error:
        place_slots(jobs, devices, gpus, runs_per_gpu)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_run_of_fewer_devices_uses_the_first_gpus_of_its_slot():
    assert Slot(0, ("2", "3"), None).env({}, 1)["CUDA_VISIBLE_DEVICES"] == "2"


def test_cpu_slots_split_the_cores_unless_the_user_set_the_threads():
    assert [slot.env({}, 1) for slot in place_slots(2, 1, [], cpus=8)] == [{"OMP_NUM_THREADS": "4"}] * 2
    assert place_slots(3, 1, [], cpus=2)[0].threads == 1
    assert place_slots(2, 1, [], cpus=8, threads_set=True)[0].env({"OMP_NUM_THREADS": "6"}, 1) == {"OMP_NUM_THREADS": "6"}
    assert place_slots(1, 1, [], cpus=8)[0].threads is None  # one run: torch's own default
    assert place_slots(4, 1, ["0"], runs_per_gpu=4, cpus=16)[0].threads == 4  # runs sharing a GPU too


def test_visible_gpus_are_cuda_visible_devices_when_set():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-5f1c, 2"}) == ["GPU-5f1c", "2"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []

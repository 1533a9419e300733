"""benchmarks/host_work.py: the operators and Python calls a training step costs the host."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from support.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from host_work import HostWork  # noqa: E402


def step(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y = F.linear(x, w)  # one operator at the top, however many it runs inside
    return torch.relu(y + 1).sum()


def test_counts_the_top_level_operators_and_the_python_calls_of_each_step():
    x, w = torch.ones(4, 3), torch.ones(2, 3)
    step(x, w)
    work = HostWork()
    work.start()
    for _ in range(5):
        step(x, w)
    work.stop(5)
    assert work.ops_per_step == 4  # linear, add, relu, sum
    assert 4 <= work.calls_per_step < 20  # step itself, F.linear, torch.relu, .sum, …

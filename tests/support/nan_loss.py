"""A test-only loss: InfoNCE whose value turns NaN from a given training call on."""

from __future__ import annotations

import torch

from lit_srl.losses import InfoNCE


class NaNEveryStepFrom(InfoNCE):
    def __init__(self, start: int = 3, temperature: float = 0.05) -> None:
        super().__init__(temperature=temperature)
        self.start = start
        self.calls = 0

    def forward(self, z1, z2):
        out = super().forward(z1, z2)
        self.calls += 1
        if self.calls >= self.start:
            out.loss = out.loss * torch.tensor(float("nan"))
        return out


class NaNOnRankAt(InfoNCE):
    """InfoNCE whose value is NaN on one rank only, at one training call (``at``, from 1)."""

    def __init__(self, rank: int = 1, at: int = 2, temperature: float = 0.05) -> None:
        super().__init__(temperature=temperature)
        self.rank, self.at = rank, at
        self.calls = 0

    def forward(self, z1, z2):
        out = super().forward(z1, z2)
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.at and torch.distributed.is_initialized() and torch.distributed.get_rank() == self.rank:
                out.loss = out.loss * torch.tensor(float("nan"))
        return out

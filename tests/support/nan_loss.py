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

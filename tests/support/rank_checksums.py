"""A test-only callback: each rank writes a checksum of its parameters when training ends."""

from __future__ import annotations

import json

import lightning as L
import torch


class ParameterChecksum(L.Callback):
    """Writes ``{"rank": r, "checksum": Σ parameters (float64)}`` to ``{path}.rank{r}``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_end(self, trainer, pl_module) -> None:
        total = sum(p.detach().double().sum() for p in pl_module.parameters()).item()
        with open(f"{self.path}.rank{trainer.global_rank}", "w") as f:
            json.dump({"rank": trainer.global_rank, "checksum": total}, f)

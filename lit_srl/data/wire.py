"""How a tokenised training batch crosses from a DataLoader worker to the trainer's process.

A worker hands its batches to the main process through a pipe. Tensors are not copied into that
pipe: each tensor's storage moves to shared memory and is passed as a file descriptor over a
socket of its own — a connection, an authentication handshake and a ``recvmsg`` in the trainer's
main thread, per tensor and per step (about 0.6 ms each on a 2-core CPU; a training batch has
four). For a training batch of a few (B, T) int64 arrays this costs more than the bytes:
:class:`TokenBatch` carries them as numpy arrays instead, which pickle inline (one copy of a few
tens of kB). In the main process they turn back into tensors without a copy: in the DataLoader's
pin-memory thread when it pins (on a GPU), else in :meth:`SentenceDataModule.on_before_batch_transfer
<lit_srl.datamodule.SentenceDataModule.on_before_batch_transfer>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Optional

import numpy as np
import torch
from torch import Tensor


class TokenBatch(Mapping):
    """A read-only mapping name → tensor (``input_ids``, ``attention_mask``, …: (B, T);
    ``batch_index``: 0-dim) held as numpy arrays while it travels.

    Indexing gives a tensor sharing the array's memory; :meth:`tensors` gives them all as a dict;
    :meth:`pin_memory` (called by the DataLoader's pin-memory thread) gives them as a dict of
    tensors in page-locked memory, ready for a non-blocking copy to the GPU.
    """

    __slots__ = ("arrays",)

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def __getitem__(self, key: str) -> Tensor:
        return torch.from_numpy(self.arrays[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)

    def tensors(self) -> dict[str, Tensor]:
        return {key: torch.from_numpy(array) for key, array in self.arrays.items()}

    def pin_memory(self, device: Optional[str] = None) -> dict[str, Tensor]:
        return {key: tensor.pin_memory() for key, tensor in self.tensors().items()}

    def __repr__(self) -> str:
        return f"TokenBatch({', '.join(f'{k}: {tuple(a.shape)}' for k, a in self.arrays.items())})"


def to_wire(batch: Mapping[str, Tensor]) -> TokenBatch:
    """The DataLoader's ``collate_fn`` for items that are already batches (``batch_size=None``):
    runs in the worker; CPU tensors become numpy arrays sharing their memory."""
    return TokenBatch({key: value.numpy() for key, value in batch.items()})


def from_wire(batch):
    """A :class:`TokenBatch` as a dict of tensors; anything else (a batch pinned on the way) as it is."""
    return batch.tensors() if isinstance(batch, TokenBatch) else batch

"""One device→host transfer for everything a logging step reads (issue 17).

Each value the host reads from a GPU tensor makes it wait until the device has run every kernel
queued before, so a step that logs the loss, the skip counts and the gradient monitor's
statistics with a read each would drain the queue three times. Instead each reader *queues* its
tensor with the function that uses the floats, and the step's owner flushes them together:

    readout.add(torch.stack([loss, skipped]), lambda host: log(host[0], host[1]))
    readout.add(monitor_stats, monitor.write)
    readout.flush()          # one torch.cat(...).tolist(), then each user gets its slice

:class:`lit_srl.model.SentenceEmbeddingModule` owns one (``host_readout``) and flushes it at the end
of every training batch (``on_train_batch_end``, after the callbacks' own ``on_train_batch_end``,
which queue theirs). :func:`read_on_host` queues on a module's readout where it has one, else
reads at once (another LightningModule).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

#: a user of queued values: called with the tensor's elements as Python floats
Use = Callable[[list[float]], None]


class HostReadout:
    """Tensors queued for the host, read in one transfer by :meth:`flush`."""

    def __init__(self) -> None:
        self._queued: list[tuple[Tensor, Use]] = []

    def add(self, values: Tensor, use: Use) -> None:
        """Queue ``values`` (any shape, real dtype; flattened, read as float64) for ``use``."""
        self._queued.append((values.detach().reshape(-1), use))

    def __len__(self) -> int:
        return len(self._queued)

    def flush(self) -> None:
        """Read every queued tensor in one transfer (one per device if they are on several), then
        call each user with its values, in the order they were queued. A user that raises stops
        the ones after it (the queue is empty either way)."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        by_device: dict[torch.device, list[Tensor]] = {}
        for values, _ in queued:
            by_device.setdefault(values.device, []).append(values.to(torch.float64))
        read = {device: iter(torch.cat(parts).tolist()) for device, parts in by_device.items()}  # the sync
        for values, use in queued:
            use([next(read[values.device]) for _ in range(values.numel())])


def read_on_host(pl_module: Any, values: Tensor, use: Use) -> None:
    """Queue ``values`` on ``pl_module.host_readout`` when the module has one (it flushes at the
    end of the training batch), else read them now and call ``use``."""
    readout = getattr(pl_module, "host_readout", None)
    if isinstance(readout, HostReadout):
        readout.add(values, use)
    else:
        use(values.detach().reshape(-1).tolist())

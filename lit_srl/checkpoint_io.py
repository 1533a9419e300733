"""How the trainer writes checkpoints: atomically, in the checkpoint's own folder.

Lightning's ``TorchCheckpointIO`` saves through fsspec, whose local files are written to a
temporary file in ``$TMPDIR`` and then moved: across filesystems (a node-local ``$TMPDIR``, the
run folder on NFS or Lustre) the move is a copy over the target, so a SIGKILL during it leaves
``last.ckpt`` empty or truncated, and a full disk destroys the previous good one.
:class:`AtomicCheckpointIO` writes through :func:`lit_srl.atomic.atomic_open` instead: a
temporary file beside the target, fsynced, then ``os.replace``; the previous checkpoint stays
until the new one is complete, leftovers of an interrupted write are removed before the next
write of the same file, and a full disk is one line naming the folder and the space needed.

The CLI installs it in every trainer it builds (``fit``, ``validate``, ``test``; single device,
DDP, SLURM) through :func:`with_atomic_checkpoints`, unless the user gave a CheckpointIO plugin of
their own; a wrapping plugin given without a base (``AsyncCheckpointIO()``) gets this one as its
base. Remote paths (``s3://…``) are left to Lightning's own writer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch.plugins.io import CheckpointIO, TorchCheckpointIO

from lit_srl.atomic import atomic_open, remove_leftovers


def tensor_bytes(obj: Any) -> int:
    """The bytes of the tensors in a (nested) checkpoint: about the size ``torch.save`` writes."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    if isinstance(obj, (bytes, str)):
        return len(obj)
    return 0


def _is_local(path: Any) -> bool:
    return "://" not in str(path)  # s3://, gs://, file://…: fsspec URLs stay Lightning's


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic in the target's own folder (see the module docstring)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(os.fspath(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path.parent, path.name)  # space first: the disk may be nearly full
        with atomic_open(path, needed=tensor_bytes(checkpoint)) as f:
            torch.save(checkpoint, f)

    def load_checkpoint(self, path, map_location: Any = lambda storage, loc: storage, weights_only: Optional[bool] = None):
        """Lightning's load, then the checks of a lit_srl record (tokenizer file names) as it is read."""
        from lit_srl.checkpoint import check_record

        checkpoint = super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        check_record(checkpoint, path)
        return checkpoint


def with_atomic_checkpoints(plugins: Any, strategy: Any = None) -> list:
    """The trainer's ``plugins`` with an :class:`AtomicCheckpointIO`, unless a CheckpointIO is chosen.

    A CheckpointIO among ``plugins`` (or set on a ``strategy`` object) is the user's choice and is
    kept as is; a wrapping plugin without a base gets an AtomicCheckpointIO as its base.
    """
    from lightning.pytorch.plugins.io.wrapper import _WrappingCheckpointIO

    listed = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if getattr(strategy, "_checkpoint_io", None) is not None:
        return listed
    for plugin in listed:
        if isinstance(plugin, _WrappingCheckpointIO) and plugin.checkpoint_io is None:
            plugin.checkpoint_io = AtomicCheckpointIO()
            return listed
        if isinstance(plugin, CheckpointIO):
            return listed
    return [*listed, AtomicCheckpointIO()]

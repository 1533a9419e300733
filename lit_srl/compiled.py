"""The opt-in compiled training forward (``model.compile: true``): torch.compile on fixed shapes.

The encoder forward of the training step (backbone, pooler, head; its backward with it) runs
through ``torch.compile``. Each batch is padded on the device to the next of a few length buckets
(:data:`LENGTH_BUCKETS`), so a run sees a handful of shapes (at most 14, within dynamo's
recompile limit, which :func:`allow_recompiles` raises): each compiles once, and on CUDA
``mode="reduce-overhead"`` captures each as a CUDA graph that is replayed, step after step,
without launching kernels one by one from Python. (``"max-autotune-no-cudagraphs"`` would spend
minutes autotuning matmuls for a few percent; name it, or any torch.compile mode, instead of
``true`` to choose.) On the CPU the default inductor mode applies.

Padding keeps the encoder's result: padded positions get ``attention_mask`` 0 (masked out of
attention, and of mean pooling) and the pad token, and are cut from nothing that is returned —
the embeddings (2N, H) do not depend on the sequence length. What changes is the float rounding
of longer reductions, and the dropout masks (inductor draws its own random numbers).

The loss stays eager: it is a few (N, N) matrices next to the encoder's work, and returns Python
objects (its statistics) that a graph would break on. Evaluation and export use the eager
encoder — the same module and weights: the compiled callable is kept outside the module tree, so
checkpoints have the eager keys (no ``_orig_mod.``) and load into either.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_srl.errors import check_choice

#: sequence lengths a batch is padded up to (longer batches keep their length)
LENGTH_BUCKETS = (16, 32, 64, 128, 256, 512)
#: torch.compile modes that capture CUDA graphs (each step must tell them a new step begins)
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def default_mode(device: torch.device) -> Optional[str]:
    """``reduce-overhead`` (CUDA graphs) on CUDA, inductor's default elsewhere."""
    return "reduce-overhead" if device.type == "cuda" else None


def bucket_length(length: int, buckets: Sequence[int] = LENGTH_BUCKETS, limit: Optional[int] = None) -> int:
    """The smallest bucket ≥ ``length`` (and ≤ ``limit``, the model's positions), else ``length``."""
    for bucket in buckets:
        if bucket >= length and (limit is None or bucket <= limit):
            return bucket
    return length


def pad_to_length(inputs: dict[str, Tensor], length: int, pad_token_id: int) -> dict[str, Tensor]:
    """Right-pad (B, T) ``input_ids`` with the pad token and ``attention_mask`` /
    ``token_type_ids`` with 0 to (B, ``length``), on the tensors' device."""
    extra = length - inputs["input_ids"].size(1)
    if extra <= 0:
        return inputs
    return {k: F.pad(v, (0, extra), value=pad_token_id if k == "input_ids" else 0) for k, v in inputs.items()}


class CompiledEncoder:
    """Calls ``encoder(**inputs)`` through ``torch.compile`` on bucket-padded inputs.

    Not an ``nn.Module``: held by the LightningModule as a plain attribute, it adds no
    parameters and no state-dict keys; the encoder it compiles is the module's own.

    Args:
        encoder: the :class:`lit_srl.encoder.SentenceEncoder` to run.
        mode: a ``torch.compile`` mode, or None for :func:`default_mode` of the encoder's device.
        backend: the ``torch.compile`` backend, a name or a callable (``inductor``; tests use
            ``aot_eager`` as well).
        buckets: the sequence lengths to pad to.
    """

    def __init__(self, encoder: nn.Module, mode: Optional[str] = None, backend: Union[str, Callable] = "inductor",
                 buckets: Sequence[int] = LENGTH_BUCKETS) -> None:
        self.encoder = encoder
        self.mode = mode
        self.backend = backend
        self.buckets = tuple(buckets)
        self._compiled = None
        self._mode_used: Optional[str] = None

    def shapes(self) -> list[str]:
        """The input shapes a run can show the compiled forward: each bucket, and a length past
        the last, at the full batch and at a smaller last batch (``data.drop_last=false``)."""
        return [f"{rows} x {length}" for rows in ("full batch", "last batch") for length in (*self.buckets, "longer")]

    def __call__(self, **inputs: Tensor) -> Tensor:
        device = inputs["input_ids"].device
        if self._compiled is None:
            allow_recompiles(len(self.shapes()))
            self._mode_used = self.mode or default_mode(device)
            options = {"mode": self._mode_used} if self.backend == "inductor" else {}
            self._compiled = torch.compile(self.encoder, backend=self.backend, dynamic=False, **options)
        limit = getattr(getattr(self.encoder, "backbone", None), "config", None)
        limit = getattr(limit, "max_position_embeddings", None)
        length = bucket_length(inputs["input_ids"].size(1), self.buckets, limit)
        pad_id = getattr(getattr(self.encoder, "tokenizer", None), "pad_token_id", None) or 0
        inputs = pad_to_length(inputs, length, pad_id)
        if self._mode_used in CUDA_GRAPH_MODES and device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
        return self._compiled(**inputs)


def allow_recompiles(shapes: int) -> None:
    """Let dynamo compile the forward for ``shapes`` input shapes: past its limit (8 by default)
    it would run every further shape eagerly, after one warning, for the rest of the run. Raises
    the limit of this process, never lowers it."""
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), shapes))


#: the modes of torch.compile's inductor backend
INDUCTOR_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compiled_encoder(encoder: nn.Module, setting: Union[bool, str, None]) -> Optional[CompiledEncoder]:
    """``model.compile``: false/None → None (eager); true → inductor in :func:`default_mode`; an
    inductor mode (``reduce-overhead``, ``max-autotune-no-cudagraphs``, …) → that mode; another
    torch.compile backend (``aot_eager``: no code generation, for debugging) → that backend."""
    if not setting:
        return None
    if setting is True or setting in INDUCTOR_MODES:
        return CompiledEncoder(encoder, mode=None if setting is True else str(setting))
    from torch._dynamo import list_backends

    check_choice("model.compile", str(setting), ["true", "false", *INDUCTOR_MODES, *list_backends(), "aot_eager", "eager"])
    return CompiledEncoder(encoder, backend=str(setting))


def strip_compile_prefixes(state_dict: dict) -> dict:
    """State-dict keys without torch.compile's ``_orig_mod.`` (from a module compiled in place by
    other code), so such checkpoints load into the eager module."""
    return {k.replace("_orig_mod.", ""): v for k, v in state_dict.items()}

"""AdamW with a linear warm-up and decay, and gradient clipping that fused AdamW can live with.

Fused AdamW (one kernel for all parameters, on CPU and CUDA) is used wherever torch has it: it is
the fast update (MiniLM on a CPU: 15 ms a step against 114 ms for the per-tensor loop), and the one
that can skip a non-finite step on the device (:mod:`lit_srl.nonfinite`).
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch


def adamw(parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the trainable ``parameters``; fused on CPU and CUDA (floating-point parameters)."""
    params = [p for p in parameters if p.requires_grad]
    fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def linear_schedule(optimizer: torch.optim.Optimizer, total: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps (a fraction of ``total`` if < 1), then linear decay to 0
    at step ``total``: lr_t = lr · (t + 1)/(w + 1) for t < w, else lr · (total − t)/(total − w)."""
    total = max(1, int(total))
    warmup = int(round(warmup * total)) if 0 < warmup < 1 else int(warmup)

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def clip_gradients(module, optimizer: torch.optim.Optimizer, clip_val: Optional[float], algorithm: Optional[str]) -> None:
    """``trainer.gradient_clip_val`` for a LightningModule's ``configure_gradient_clipping``.

    Lightning refuses to clip under a mixed-precision plugin when the optimizer unscales its own
    gradients (fused AdamW: "does not allow for gradient clipping"). Under bf16-mixed there is
    nothing to unscale; under 16-mixed the GradScaler unscales first (the fused step then takes
    the gradients as they are). The clipping itself is torch's ``clip_grad_norm_`` /
    ``clip_grad_value_``, which never ask the device for a value.
    """
    from lightning.pytorch.plugins.precision import MixedPrecision, Precision
    from lightning.pytorch.utilities import GradClipAlgorithmType

    if not clip_val:
        return
    plugin = module.trainer.precision_plugin
    if isinstance(plugin, MixedPrecision) and getattr(optimizer, "_step_supports_amp_scaling", False):
        if plugin.scaler is not None:
            plugin.scaler.unscale_(optimizer)
        Precision.clip_gradients(plugin, optimizer, clip_val, GradClipAlgorithmType(algorithm or "norm"))
        return
    module.clip_gradients(optimizer, gradient_clip_val=clip_val, gradient_clip_algorithm=algorithm)

"""Skipping an optimizer step whose loss or gradient is not finite, decided on the device.

A skipped step changes no parameter, no AdamW moment and no AdamW step count; the skips are
counted in ``train/skipped_steps``, and ``max_consecutive_skips`` in a row stop the run. Nothing
of this asks the device for a value during a step that does not log, so the host can queue the
next step while the GPU still runs this one:

* the loss flag travels with the gradients: :meth:`NonFiniteSkip.guard_loss` multiplies the loss
  by 1 where it is finite (value and gradients unchanged, bit for bit) and by NaN where it is not,
  so a non-finite loss on any rank turns every gradient NaN — after DDP's all-reduce on every
  rank, which therefore skips together without a collective of its own;
* :meth:`NonFiniteSkip.before_step` reduces the gradients to one flag, ``found`` (1.0 if any is
  not finite), with the fused check ``torch.amp.GradScaler`` runs before it unscales (one
  multi-tensor kernel per device and dtype, multiplying by 1, which leaves every value as it is),
  and hands it to fused AdamW as ``optimizer.found_inf``: the fused kernel then
  leaves parameters and moments alone and takes its step count back (the mechanism
  ``torch.amp.GradScaler`` uses). Other optimizers (fused AdamW exists on CPU and CUDA) fall back
  to reading the flag on the host and dropping the gradients, one sync per step;
* the counts (skipped steps, the current run of skips, the longest run since the last check) are
  a device tensor; :meth:`NonFiniteSkip.queue_check` reads them at logging steps, with the values
  the caller logs, as a part of the step's one transfer (:mod:`lit_srl.host_readout`), and raises
  the one-line error when a run reached the limit.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import Tensor

from lit_srl.errors import LitSrlError
from lit_srl.host_readout import HostReadout

#: positions in the device counts
SKIPPED, CONSECUTIVE, LONGEST = 0, 1, 2


def handles_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """True if ``optimizer.step`` skips its update on device when ``optimizer.found_inf`` is 1
    (torch's fused Adam/AdamW/SGD: ``_step_supports_amp_scaling``)."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False))


def non_finite_flag(grads: list[Tensor], optimizer: torch.optim.Optimizer) -> Tensor:
    """0-dim float32 on the gradients' device: 1.0 if any of ``grads`` holds a NaN or an infinity.

    ``torch._amp_foreach_non_finite_check_and_unscale_`` with a scale of 1 (GradScaler's check:
    one fused kernel per device and dtype, no host sync; x · 1 = x for every float, NaN and ±inf
    included). A sparse gradient is checked through its values, as GradScaler does.
    """
    if not grads:
        return torch.zeros((), dtype=torch.float32, device=optimizer.param_groups[0]["params"][0].device)
    found = torch.zeros((), dtype=torch.float32, device=grads[0].device)
    one = torch.ones((), dtype=torch.float32, device=found.device)
    groups: dict[tuple, list[Tensor]] = {}
    for grad in grads:
        grad = grad._values() if grad.is_sparse else grad
        groups.setdefault((grad.device, grad.dtype), []).append(grad)
    for (device, _), group in groups.items():
        flag = found if device == found.device else torch.zeros((), dtype=torch.float32, device=device)
        torch._amp_foreach_non_finite_check_and_unscale_(group, flag, one.to(device))
        if flag is not found:
            found = torch.maximum(found, flag.to(found.device))
    return found


class NonFiniteSkip:
    """The device-side skip of non-finite steps, and its counts.

    Args:
        max_consecutive: this many skipped steps in a row stop the run (checked at logging steps,
            so a longer run is reported as it was when found).
    """

    def __init__(self, max_consecutive: int) -> None:
        self.max_consecutive = int(max_consecutive)
        self._counts: Optional[Tensor] = None  # (3,) float64 [SKIPPED, CONSECUTIVE, LONGEST]
        self._loaded = (0, 0)

    # ------------------------------------------------------------------ the step
    @staticmethod
    def guard_loss(loss: Tensor) -> Tensor:
        """The loss to back-propagate: ``loss · 1`` if it is finite, else ``loss · NaN``.

        The factor is a constant of the graph, so a finite loss keeps its value and its gradient
        (∂(1·L)/∂L = 1 exactly); a non-finite one makes every gradient it reaches NaN.
        """
        finite = torch.isfinite(loss.detach())
        return loss * torch.where(finite, 1.0, float("nan")).to(loss.dtype)

    def before_step(
        self, optimizer: torch.optim.Optimizer, parameters: Optional[Iterable[torch.nn.Parameter]] = None
    ) -> Tensor:
        """Flag this step (after backward and DDP's all-reduce, before clipping), count it, and
        make the optimizer skip it if flagged. ``parameters``: whose gradients to check (default:
        the optimizer's, which costs no walk over the module tree). Returns ``found``: 0-dim
        float32, 1.0 = skipped."""
        if parameters is None:
            parameters = (p for group in optimizer.param_groups for p in group["params"])
        found = non_finite_flag([p.grad for p in parameters if p.grad is not None], optimizer)
        self._count(found)
        if handles_found_inf(optimizer):
            optimizer.found_inf = found
        elif bool(found):  # host fallback: AdamW skips parameters without a gradient
            optimizer.zero_grad(set_to_none=True)
        return found

    def _count(self, found: Tensor) -> None:
        counts = self._device_counts(found.device)
        hit = found.to(counts.dtype)
        run = (counts[CONSECUTIVE] + hit) * hit  # back to 0 at a step that was not skipped
        self._counts = torch.stack([counts[SKIPPED] + hit, run, torch.maximum(counts[LONGEST], run)])

    def _device_counts(self, device: torch.device) -> Tensor:
        if self._counts is None or self._counts.device != device:
            skipped, consecutive = self._loaded if self._counts is None else self._host_counts()[:2]
            # fills, not torch.tensor(..., device=...): a copy from host memory would wait for the device
            self._counts = torch.stack(
                [torch.full((), float(x), dtype=torch.float64, device=device) for x in (skipped, consecutive, consecutive)]
            )
        return self._counts

    # ------------------------------------------------------------------ the host
    def check(self, step: int, *values: Tensor) -> tuple[int, list[float]]:
        """One device→host transfer: the count of skipped steps and ``values`` (0-dim tensors) as
        floats. Raises :class:`LitSrlError` if a run of skips since the last check reached the limit."""
        readout, result = HostReadout(), []
        self.queue_check(readout, step, values, lambda skipped, floats: result.extend([skipped, floats]))
        readout.flush()
        return result[0], result[1]

    def queue_check(
        self, readout: HostReadout, step: int, values: Sequence[Tensor], then: Callable[[int, list[float]], None]
    ) -> None:
        """:meth:`check` as a part of ``readout``'s one transfer: when it is flushed, raise
        :class:`LitSrlError` if a run of skips since the last check reached the limit, else call
        ``then(skipped_steps, values as floats)``."""
        extra = [v.detach().reshape(1) for v in values]
        if self._counts is None:
            skipped = self._loaded[0]
            readout.add(torch.cat(extra) if extra else torch.zeros(0), lambda host: then(skipped, host))
            return
        counts = self._counts
        # the longest run restarts from the current one (on the device, in stream order)
        self._counts = torch.stack([counts[SKIPPED], counts[CONSECUTIVE], counts[CONSECUTIVE]])

        def use(host: list[float]) -> None:
            skipped, longest = int(host[SKIPPED]), int(host[LONGEST])
            if longest >= self.max_consecutive:
                raise LitSrlError(
                    f"{longest} optimizer steps in a row had a non-finite loss or gradient "
                    f"(found at step {step}); lower model.lr, use precision 32-true or bf16-mixed "
                    f"instead of 16-mixed, or check the corpus; the limit is model.max_consecutive_skips={self.max_consecutive}"
                )
            then(skipped, host[3:])

        readout.add(torch.cat([counts, *(v.to(device=counts.device, dtype=counts.dtype) for v in extra)]), use)

    def _host_counts(self) -> list[int]:
        return [int(v) for v in self._counts.tolist()] if self._counts is not None else [*self._loaded, self._loaded[1]]

    @property
    def skipped_steps(self) -> int:
        """Skipped steps so far (reads the device: for after the fit and checkpoints)."""
        return self._host_counts()[SKIPPED]

    @property
    def consecutive_skips(self) -> int:
        """The current run of skipped steps (reads the device)."""
        return self._host_counts()[CONSECUTIVE]

    def state_dict(self) -> dict:
        return {"skipped_steps": self.skipped_steps, "consecutive_skips": self.consecutive_skips}

    def load_state_dict(self, state: dict) -> None:
        self._loaded = (int(state["skipped_steps"]), int(state["consecutive_skips"]))
        self._counts = None

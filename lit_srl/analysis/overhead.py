"""What the gradient-analysis callbacks cost, as a share of the training step.

:func:`measure_monitor_overhead` times, on one process, (a) a full optimizer step of
:class:`~lit_srl.model.SentenceEmbeddingModule` (two dropout views of a batch, the loss, backward,
AdamW) and (b) one measurement of :class:`GradientComponentMonitor` and of
:class:`EffectiveComponentMonitor` on that step's views, including the writes to a TensorBoard
logger. A callback that measures every k steps costs

    overhead = t_measure / (k · t_step)

of the training time (between measurements its hook only checks the step counter). Medians of
repeated timings; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from types import SimpleNamespace
from typing import Optional, Sequence

import torch

_WORDS = (
    "a man woman dog child plays runs sings reads writes guitar piano ball book street park the "
    "on in with near quickly slowly red blue small large old new city river mountain house car"
).split()


def synthetic_sentences(n: int, seed: int = 0, length: int = 12) -> list[str]:
    """``n`` random sentences of ``length`` words from a small vocabulary (no data needed)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(_WORDS), (n, length), generator=g)
    return [" ".join(_WORDS[i] for i in row) + " ." for row in idx.tolist()]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_monitor_overhead(
    backbone: str = "minilm",
    batch_size: int = 64,
    max_length: int = 32,
    pooler: str = "avg",
    loss=None,
    steps: int = 8,
    warmup: int = 2,
    repeats: int = 10,
    log_every_n_steps: int = 10,
    effective_every_n_steps: int = 50,
    sentences: Optional[Sequence[str]] = None,
    device: str = "cpu",
    seed: int = 0,
    threads: Optional[int] = None,
) -> dict[str, float]:
    """Time a training step and one measurement of each callback; returns seconds and percents.

    Args:
        backbone, pooler, loss: the module's (``loss=None``: InfoNCE τ = 0.05).
        batch_size, max_length: the training batch (N sentences, two views each).
        steps, warmup: timed and untimed optimizer steps.
        repeats: timed measurements of each callback (on the last step's views).
        log_every_n_steps: GradientComponentMonitor's interval (the trainer's default, 10).
        effective_every_n_steps: EffectiveComponentMonitor's interval (its default, 50).
        sentences: training sentences (default: synthetic ones).
        device: ``cpu`` or ``cuda``.
        threads: ``torch.set_num_threads`` for the measurement (restored after). On a loaded CPU,
            several intra-op threads make every small op wait for descheduled workers: 1 gives
            stable numbers there.

    Returns:
        {step_s, monitor_s, effective_s, monitor_pct, effective_pct, batch_size, hidden, anchors_eff}:
        median seconds per optimizer step and per measurement; percent of training time at the
        given intervals; the embedding size and the effective monitor's sub-batch size.
    """
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _measure(
            backbone, batch_size, max_length, pooler, loss, steps, warmup, repeats, log_every_n_steps,
            effective_every_n_steps, sentences, device, seed,
        )
    finally:
        torch.set_num_threads(previous_threads)


def _measure(
    backbone, batch_size, max_length, pooler, loss, steps, warmup, repeats, log_every_n_steps,
    effective_every_n_steps, sentences, device, seed,
) -> dict[str, float]:
    from lightning.pytorch.loggers import TensorBoardLogger

    from lit_srl.callbacks.effective_components import EffectiveComponentMonitor
    from lit_srl.callbacks.gradient_monitor import GradientComponentMonitor
    from lit_srl.model import SentenceEmbeddingModule

    torch.manual_seed(seed)
    dev = torch.device(device)
    module = SentenceEmbeddingModule(backbone=backbone, pooler=pooler, loss=loss).to(dev)
    module.train()
    sentences = list(sentences) if sentences is not None else synthetic_sentences(batch_size * (steps + warmup), seed)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    batches = [
        {k: v.to(dev) for k, v in module.encoder.tokenize(sentences[i : i + batch_size], max_length).items()}
        for i in range(0, batch_size * (steps + warmup), batch_size)
    ]
    batches = [b for b in batches if b["input_ids"].shape[0] == batch_size] or batches[:1]

    def step(batch) -> None:
        z1, z2 = module.two_views(batch)
        out = module.loss_fn(z1, z2)
        module.last_loss_output, module.last_views = out, (z1.detach(), z2.detach())
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times = []
    for k in range(warmup + steps):
        batch = batches[k % len(batches)]
        _sync(dev)
        start = time.perf_counter()
        step(batch)
        _sync(dev)
        if k >= warmup:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)

    z1, z2 = module.last_views
    with tempfile.TemporaryDirectory() as tmp:
        logger = TensorBoardLogger(tmp, name="overhead")
        trainer = SimpleNamespace(
            world_size=1, global_rank=0, global_step=0, is_global_zero=True, loggers=[logger], log_every_n_steps=log_every_n_steps
        )
        monitor = GradientComponentMonitor(log_every_n_steps)
        effective = EffectiveComponentMonitor(effective_every_n_steps)
        anchors = len(effective.subsample(z1.shape[0], z1.shape[1], 0))
        monitor.measure(trainer, module, z1, z2)  # warm-up (imports, first TensorBoard write)
        effective.measure(trainer, module, z1, z2)
        monitor_s = _median_time(lambda: monitor.measure(trainer, module, z1, z2), repeats, dev)
        effective_s = _median_time(lambda: effective.measure(trainer, module, z1, z2), repeats, dev)
        logger.finalize("success")
    return {
        "step_s": step_s,
        "monitor_s": monitor_s,
        "effective_s": effective_s,
        "monitor_pct": 100 * monitor_s / (log_every_n_steps * step_s),
        "effective_pct": 100 * effective_s / (effective_every_n_steps * step_s),
        "batch_size": float(batch_size),
        "hidden": float(z1.shape[1]),
        "anchors_eff": float(anchors),
    }

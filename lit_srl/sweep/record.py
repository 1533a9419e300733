"""``result.json``: what a finished run measured, written by ``fit --result PATH``.

After ``fit`` the run's best-on-dev checkpoint (ModelCheckpoint on ``val/stsb_spearman``; the
final weights if the run never validated) is tested on ``data.test_tasks`` (the 7 STS tasks) in
the same process, and rank 0 writes::

    {"scores": {task: Spearman ×100, …, "avg": …},        # test splits, best-dev weights
     "selection": {"scored", "checkpoint", "best_step", "best_dev": ρ, "dev_curve": [[step, ρ], …]},
     "monitor": {"gd_mean", "w_hardest", "ratio_mean", "cos_pos_mean", …},   # means over the run
     "train": {"steps", "seconds_per_step", "skipped_steps", "loss_first", "loss_last",
               "fit_seconds", "end_of_fit_seconds", "test_seconds"},
     "gpu": {"seconds", "peak_allocated_gib": [per device], "peak_reserved_gib": [...]},  # null on CPU
     "command", "config", "git": {"commit", "dirty"}, "versions", "host", "device", "date"}

``sweep run`` adds ``"runner": {"wall_seconds", "tidy_seconds", "overhead_seconds"}`` when the run
has finished (:func:`lit_srl.sweep.runner.record_overhead`).

With ``--transfer transfer`` (or task names, ``MR,TREC``) the same weights are also scored on
SentEval's transfer tasks (:mod:`lit_srl.evaluation.transfer`; slower than STS, see
BENCHMARKS.md) and the record gets ``"transfer": {task: accuracy ×100, …, "avg": …}``.

The monitor means and the dev curve are read back from the run's TensorBoard event files, so a
run resumed after a crash or a requeue reports its whole history; a dev point's step is the
optimizer steps done (``global_step``, the step in the checkpoint's name), in TensorBoard too.
The same scores go to TensorBoard's HPARAMS dashboard (``hp/test_avg``, ``hp/test_stsb``,
``hp/best_dev``) with the run's hyperparameters, so a sweep's runs can be compared there by their
swept values. Scales: TensorBoard holds Spearman ρ (−1 to 1) everywhere (``val/*``, ``test/*``,
``hp/*``), as does ``selection``; ``scores`` and ``transfer`` are ×100, as SentEval's and the
paper's tables (and ``sweep report``) print them.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import lit_srl
from lit_srl import metric_names as names
from lit_srl.atomic import write_text_atomic  # noqa: F401  (plan.py imports it from here)
from lit_srl.evaluation.tasks import TASKS

#: Names of the test metrics (``test/<name>``) → SentEval task names of the scores.
TEST_METRICS = {**{names.sts_metric(task): task for task in TASKS}, "avg": "avg"}
RESULT_NAME = "result.json"


def jsonable(value: Any) -> Any:
    """Plain JSON: tensors/numpy scalars → numbers, NaN/inf → None, tuples → lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict) -> None:
    """Write as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(jsonable(data), indent=2) + "\n")


def git_state() -> dict:
    """The commit of the source checkout lit_srl runs from, and whether it has local changes."""
    root = Path(lit_srl.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def versions() -> dict:
    import lightning
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
            "transformers": transformers.__version__, "lit_srl": getattr(lit_srl, "__version__", "unknown")}


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device_name(trainer) -> str:
    import torch

    root = trainer.strategy.root_device
    if root.type == "cuda":
        return f"{trainer.world_size} × {torch.cuda.get_device_name(root)}"
    return f"{trainer.world_size} × {root.type} ({cpu_name()}, {os.cpu_count()} cores)"


def gpu_usage(trainer, seconds: float) -> Optional[dict]:
    """The run's GPU use, or None off CUDA (call on every rank: it gathers to all).

    ``seconds``: GPU time, defined as device-seconds of this process's fit and test — their wall
    time × the devices of the run (each device is held by the run for that long, busy or not).
    ``peak_allocated_gib`` / ``peak_reserved_gib``: per device (rank order), the peak of
    ``torch.cuda.max_memory_allocated`` (tensors) and ``max_memory_reserved`` (what the caching
    allocator took from the card: what another run on the same GPU cannot have), in GiB.
    """
    import torch

    root = trainer.strategy.root_device
    if root.type != "cuda":
        return None
    peaks = torch.tensor([torch.cuda.max_memory_allocated(root), torch.cuda.max_memory_reserved(root)],
                         dtype=torch.float64, device=root)
    gathered = trainer.strategy.all_gather(peaks).reshape(-1, 2).cpu() / 2**30
    return {"seconds": seconds * trainer.world_size,
            "peak_allocated_gib": [round(float(v), 3) for v in gathered[:, 0]],
            "peak_reserved_gib": [round(float(v), 3) for v in gathered[:, 1]]}


def _mean(values) -> Optional[float]:
    finite = [float(v) for v in values if math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else None


def model_checkpoint(trainer):
    from lightning.pytorch.callbacks import ModelCheckpoint

    return next((cb for cb in trainer.callbacks if type(cb) is ModelCheckpoint), None)


def _flat_hparams(config: dict) -> dict:
    """The run's scalar settings for TensorBoard's HPARAMS table (``model.lr``, ``data.batch_size``…)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, (bool, int, float, str)):
            flat[prefix] = value

    for section in ("model", "data"):
        walk(section, config.get(section) or {})
    for key in ("max_steps", "precision", "gradient_clip_val", "val_check_interval"):
        value = (config.get("trainer") or {}).get(key)
        if isinstance(value, (bool, int, float, str)):
            flat[f"trainer.{key}"] = value
    flat["seed_everything"] = config.get("seed_everything")
    return {k: v for k, v in flat.items() if v is not None and k not in ("data.data_dir",)}


def log_hparams(log_dir: Path, params: dict, metrics: dict, step: int) -> None:
    """TensorBoard's HPARAMS entry of the run (a new event file in its log folder: the same run).

    The logger of the fit is closed by then (``trainer.test`` finalises it), so a writer of its own
    adds the hparams summary and the metric scalars it refers to.
    """
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for summary in hparams(params, metrics):
            writer.file_writer.add_summary(summary)
        for name, value in metrics.items():
            writer.add_scalar(name, value, step)
    finally:
        writer.close()


def transfer_column(encoder, data_dir, tasks: str = "transfer", mode: str = "full") -> dict:
    """``{task: accuracy ×100, …, "avg": …}`` of ``encoder`` on SentEval's transfer tasks (test
    accuracy; classifiers on the encoder's device). ``tasks``: ``transfer`` or names (``MR,TREC``)."""
    from lit_srl.evaluation.command import select_tasks
    from lit_srl.evaluation.transfer import TransferEvaluator, transfer_average

    _, task_names = select_tasks(tasks)
    results = TransferEvaluator.from_data_dir(data_dir, task_names, mode).evaluate(encoder)
    return {**{name: 100 * results[name]["accuracy"] for name in task_names}, "avg": 100 * transfer_average(results)}


def finish_run(trainer, model, datamodule, result_path: str, config: dict, argv: list[str],
               fit_seconds: Optional[float] = None, transfer: Optional[str] = None,
               transfer_mode: str = "full", end_of_fit_seconds: Optional[float] = None) -> Optional[dict]:
    """Test the best-on-dev weights, log them as TensorBoard hparams, write ``result_path`` (rank 0).

    ``fit_seconds``: wall time of this process's ``trainer.fit`` (a resumed run: its last attempt);
    ``end_of_fit_seconds``: the part of it after training ended
    (:class:`lit_srl.sweep.end_of_fit.EndOfFitClock`).
    ``transfer``: also score the transfer tasks (``transfer`` or names), in ``transfer_mode``.
    """
    from lit_srl.analysis.figures import read_logs

    checkpoint = model_checkpoint(trainer)
    best = checkpoint.best_model_path if checkpoint is not None and checkpoint.best_model_path else None
    start = time.perf_counter()
    metrics = trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)[0]
    test_seconds = time.perf_counter() - start
    scores = {task: 100.0 * float(metrics[f"test/{name}"]) for name, task in TEST_METRICS.items() if f"test/{name}" in metrics}
    if "avg" not in scores and scores:  # one task: the model logs no average
        scores["avg"] = sum(scores.values()) / len(scores)
    logger = trainer.logger
    gpu = gpu_usage(trainer, (fit_seconds or 0.0) + test_seconds)
    if not trainer.is_global_zero:
        return None
    scalars: dict = {}
    if logger is not None and getattr(logger, "log_dir", None):
        logger.experiment.flush()
        scalars, _ = read_logs(Path(logger.log_dir))
    dev_steps, dev_values = scalars.get(names.VAL_STSB, ((), ()))
    # logged at global_step (optimizer steps done), the step in the checkpoint's name
    dev_curve = [[int(s), float(v)] for s, v in zip(dev_steps, dev_values)]
    best_dev = float(checkpoint.best_model_score) if best and checkpoint.best_model_score is not None else None
    step_in_name = re.search(r"step=?(\d+)", Path(best).name) if best else None
    best_step = int(step_in_name.group(1)) if step_in_name else None
    sent_steps, sent_values = scalars.get(names.SENTENCES_PER_SECOND, ((), ()))
    loss_steps, loss_values = scalars.get(names.TRAIN_LOSS, ((), ()))
    global_batch = datamodule.batch_size * trainer.world_size
    rate = _mean(sent_values)
    record = {
        "scores": scores,
        "selection": {
            "scored": "best STS-B dev" if best else "final weights (no validation ran)",
            "checkpoint": best,
            "best_step": best_step,
            "best_dev": best_dev,
            "dev_curve": dev_curve,
        },
        "monitor": {key: _mean(scalars[tag][1]) if tag in scalars else None for tag, key in names.RUN_SUMMARY.items()},
        "monitor_points": len(scalars.get(names.GD_MEAN, scalars.get(names.COS_POS_MEAN, ((), ())))[0]),
        "train": {
            "steps": int(trainer.global_step),
            "skipped_steps": int(getattr(model, "skipped_steps", 0)),
            "seconds_per_step": (global_batch / rate) if rate else None,
            "loss_first": float(loss_values[0]) if len(loss_values) else None,
            "loss_last": float(loss_values[-1]) if len(loss_values) else None,
            "fit_seconds": fit_seconds,
            "end_of_fit_seconds": end_of_fit_seconds,
            "test_seconds": test_seconds,
        },
        "gpu": gpu,
        "command": shlex.join(["python", "-m", "lit_srl", *argv]),
        "config": config,
        "git": git_state(),
        "versions": versions(),
        "host": socket.gethostname(),
        "device": device_name(trainer),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if logger is not None and getattr(logger, "log_dir", None):
        # Spearman ρ, the scale of val/* and test/* in TensorBoard (result.json's scores are ×100)
        test_avg, test_stsb = scores.get("avg"), scores.get("STSBenchmark")
        hp_metrics = {"hp/test_avg": None if test_avg is None else test_avg / 100,
                      "hp/test_stsb": None if test_stsb is None else test_stsb / 100, "hp/best_dev": best_dev}
        log_hparams(Path(logger.log_dir), _flat_hparams(config), {k: v for k, v in hp_metrics.items() if v is not None},
                    int(trainer.global_step))
    if transfer:
        start = time.perf_counter()
        record["transfer"] = transfer_column(model.encoder, datamodule.data_dir, transfer, transfer_mode)
        record["train"]["transfer_seconds"] = time.perf_counter() - start
    write_json(Path(result_path), record)
    return record

"""One experiment run: fit an objective for the budget on the real training path, score STS.

The run is a Lightning ``Trainer`` fitting :class:`~lit_srl.model.SentenceEmbeddingModule` on
:class:`~lit_srl.data.datamodule.SentenceDataModule`, with
:class:`lit_srl.callbacks.GradientComponentMonitor` logging GD, W and R into an in-memory logger;
the final (or best-on-STS-B-dev) encoder is then scored by
:meth:`lit_srl.evaluation.STSEvaluator.evaluate`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Optional

from lit_srl.experiment.records import BASELINE_KEYS, meta


#: Monitor scalars kept (mean over the run) in each result JSON: log name → JSON key.
MONITORED = {
    "grad/gd_mean": "gd_mean", "grad/w_hardest": "w_hardest", "grad/ratio_mean": "ratio_mean",
    "cos/pos_mean": "cos_pos_mean", "cos/neg_mean": "cos_neg_mean", "cos/neg_max_mean": "cos_neg_max_mean",
    "cos/alignment": "alignment", "cos/uniformity": "uniformity",
}


def _recorder():
    """A Lightning logger keeping every logged scalar in memory: ``history[name] = [(step, value)]``."""
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities import rank_zero_only

    class MetricRecorder(Logger):
        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[tuple[Optional[int], float]]] = {}

        @property
        def name(self) -> str:
            return "recorder"

        @property
        def version(self) -> int:
            return 0

        @rank_zero_only
        def log_metrics(self, metrics: dict, step: Optional[int] = None) -> None:
            for key, value in metrics.items():
                self.history.setdefault(key, []).append((step, float(value)))

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    return MetricRecorder()


def _step_clock():
    """A callback measuring seconds per optimizer step after the first (steady state)."""
    import lightning as L

    class StepClock(L.Callback):
        def __init__(self) -> None:
            self.first: Optional[float] = None
            self.last: Optional[float] = None
            self.steps = 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            now = time.perf_counter()
            if self.first is None:
                self.first = now
            else:
                self.steps += 1
            self.last = now

        @property
        def seconds_per_step(self) -> Optional[float]:
            return (self.last - self.first) / self.steps if self.steps else None

    return StepClock()


def _best_weights(monitor: str = "val/stsb_spearman"):
    """A callback keeping, on CPU, the encoder weights at the highest ``monitor`` seen at validation.

    The paper (like SimCSE) reports the checkpoint with the best STS-B dev Spearman; keeping the
    weights in memory selects it without writing a checkpoint per run.
    """
    import lightning as L

    class BestWeights(L.Callback):
        def __init__(self) -> None:
            self.value: Optional[float] = None
            self.step: Optional[int] = None
            self.state: Optional[dict] = None

        def on_validation_end(self, trainer, pl_module) -> None:
            value = trainer.callback_metrics.get(monitor)
            if trainer.sanity_checking or value is None or not math.isfinite(float(value)):
                return
            if self.value is None or float(value) > self.value:
                self.value, self.step = float(value), int(trainer.global_step)
                self.state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.encoder.state_dict().items()}

    return BestWeights()


def _mean(values: list[float]) -> Optional[float]:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def flat_scores(results: dict) -> dict[str, float]:
    """``{task: spearman, …, "avg": mean}`` from STSEvaluator results."""
    scores = {k: float(v["spearman"]) for k, v in results.items() if isinstance(v, dict) and "spearman" in v}
    scores["avg"] = float(results["avg"])
    return scores


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_and_score(objective: str, seed: int, config: dict, evaluator, output_dir: Path) -> dict:
    """One run: fit for ``config["budget"]`` steps, score the final encoder; the result record."""
    import lightning as L
    from lightning.pytorch.loggers import TensorBoardLogger

    from lit_srl.callbacks import GradientComponentMonitor
    from lit_srl.data.datamodule import SentenceDataModule
    from lit_srl.model import SentenceEmbeddingModule, build_loss_from_spec

    L.seed_everything(seed, verbose=False)
    module = SentenceEmbeddingModule(
        backbone=config["backbone"], pooler=config["pooler"], loss=build_loss_from_spec(config["loss"]), lr=config["lr"],
        freeze_embeddings=config.get("freeze_embeddings", False),
    )
    datamodule = SentenceDataModule(
        data_dir=config["data_dir"], train_files=config["train_files"], batch_size=config["batch_size"],
        max_length=config["max_length"], seed=seed, num_workers=config["num_workers"],
    )
    recorder, clock, best = _recorder(), _step_clock(), _best_weights()
    log_every = min(config["log_every"], config["budget"])
    val_every = config.get("val_every")
    validation = (
        dict(val_check_interval=val_every, check_val_every_n_epoch=None) if val_every else dict(limit_val_batches=0)
    )
    trainer = L.Trainer(
        accelerator="auto", devices=1, precision=config["precision"], max_steps=config["budget"], max_epochs=None,
        num_sanity_val_steps=0, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, log_every_n_steps=log_every, default_root_dir=str(output_dir / "runs"),
        logger=[recorder, TensorBoardLogger(save_dir=str(output_dir / "runs"), name=f"{objective}_seed{seed}")],
        callbacks=[GradientComponentMonitor(log_every_n_steps=log_every), clock, best], **validation,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    train_seconds = time.perf_counter() - start
    if best.state is not None:  # score the best-on-dev weights, as the paper does
        module.encoder.load_state_dict(best.state)
    start = time.perf_counter()
    results = evaluator.evaluate(module.encoder, batch_size=config["eval_batch_size"], device=device())
    eval_seconds = time.perf_counter() - start
    history = recorder.history
    losses = [v for _, v in history.get("train/loss", [])]
    return {
        "objective": objective,
        "seed": seed,
        "scores": flat_scores(results),
        "monitor": {
            **{key: _mean([v for _, v in history.get(name, [])]) for name, key in MONITORED.items()},
            "logged_steps": len(history.get("grad/gd_mean", history.get("cos/pos_mean", []))),
            "every_n_steps": log_every,
        },
        "train": {
            "steps": int(trainer.global_step),
            "skipped_steps": int(module.skipped_steps),
            "seconds": train_seconds,
            "seconds_per_step": clock.seconds_per_step,
            "loss_first_logged": losses[0] if losses else None,
            "loss_last_logged": losses[-1] if losses else None,
        },
        "selection": {
            "scored": "final" if best.state is None else "best STS-B dev",
            "every_n_steps": val_every,
            "best_step": best.step,
            "best_dev_spearman": best.value,
            "dev_history": [[step, value] for step, value in history.get("val/stsb_spearman", [])],
        },
        "eval_seconds": eval_seconds,
        "details": results,
        "config": config,
        "meta": meta(),
    }


def score_baseline(config: dict, evaluator) -> dict:
    """The untrained backbone's scores with the experiment's pooler (no head at evaluation)."""
    from lit_srl.encoder import SentenceEncoder

    start = time.perf_counter()
    encoder = SentenceEncoder(backbone=config["backbone"], pooler=config["pooler"])
    results = evaluator.evaluate(encoder, batch_size=config["eval_batch_size"], device=device())
    return {
        "objective": "baseline",
        "scores": flat_scores(results),
        "eval_seconds": time.perf_counter() - start,
        "details": results,
        "config": {k: config[k] for k in (*BASELINE_KEYS, "data_dir")},
        "meta": meta(),
    }

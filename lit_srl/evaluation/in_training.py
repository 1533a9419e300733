"""STS scores of a validation or test loop inside Lightning: gathered over ranks, then logged."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from lit_srl import metric_names as names
from lit_srl.evaluation.encoding import gather_shards


def score_and_log(module: L.LightningModule, stage: str, outputs: list[tuple[Tensor, Tensor]]) -> None:
    """Gather every rank's embeddings once and log the scores of the loader's evaluator.

    ``outputs``: this rank's ``(index (b,), embeddings (b, H))`` of each evaluation batch, the
    positions of its sentences among the evaluator's unique sentences. The evaluation dataloader's
    dataset (:class:`lit_srl.evaluation.encoding.SentenceShard`) carries the :class:`STSEvaluator`
    of its sentences; its scores are logged as ``{stage}/stsb_spearman``, …, ``{stage}/avg``
    (:func:`lit_srl.metric_names.sts_scalars`). Nothing during Lightning's sanity check.
    """
    trainer = module.trainer
    if getattr(trainer, "sanity_checking", False):
        return
    loaders = trainer.val_dataloaders if stage == "val" else trainer.test_dataloaders
    evaluator = (loaders[0] if isinstance(loaders, (list, tuple)) else loaders).dataset.evaluator
    if outputs:
        index = torch.cat([i for i, _ in outputs]).to(module.device)
        emb = torch.cat([e for _, e in outputs])
    else:
        index = torch.empty(0, dtype=torch.long, device=module.device)
        emb = torch.empty(0, module.encoder.hidden_size, device=module.device)
    embeddings = gather_shards(index, emb, len(evaluator.sentences), trainer.world_size, module.all_gather)
    scores = names.sts_scalars(evaluator.score(embeddings))
    # Inside fit, dev scores go to the loggers at global_step, the optimizer steps done: the step
    # of the checkpoint this evaluation selects (best-step=10) and of result.json's dev_curve.
    # Lightning's own logging step lags one behind there (the 10th step's validation at 9).
    at_global_step = stage == "val" and trainer.state.fn == "fit"
    for name, value in scores.items():
        # Every rank holds the same scores (computed from the same gathered embeddings).
        module.log(f"{stage}/{name}", value, prog_bar=name == "stsb_spearman", rank_zero_only=False,
                   logger=not at_global_step)
    if at_global_step and trainer.is_global_zero:
        for logger in trainer.loggers:
            logger.log_metrics({f"{stage}/{name}": float(value) for name, value in scores.items()}, step=module.global_step)

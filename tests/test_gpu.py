"""On a CUDA GPU (marked ``gpu``: skipped without one; ``make gpu-check`` runs them): training in
bf16-mixed, evaluation equal to the CPU's, the encode path's pinned batches, and no host sync in a
training step that does not log (issue 17, items 1, 4 and 7)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch

from support.helpers import fit_args, read_scalars, run_cli

pytestmark = pytest.mark.gpu

SENTENCES = ["a man is playing a guitar .", "hello", "the stock market fell 3 % on monday .", "two dogs run"]


def test_fit_on_the_gpu_in_bf16_mixed_trains_and_validates(cuda, tiny_bert, data_dir, tmp_path):
    args = fit_args(tmp_path, str(tiny_bert), "--trainer.accelerator=cuda", "--trainer.precision=bf16-mixed",
                    "--model.pooler=cls", "--trainer.gradient_clip_val=1.0", steps=4, val_every=4)
    assert run_cli(args) == 0
    scalars = read_scalars(tmp_path)
    assert all(math.isfinite(v) for _, v in scalars["train/loss"])
    assert -1 <= scalars["val/stsb_spearman"][-1][1] <= 1
    assert "train/skipped_steps" not in scalars or scalars["train/skipped_steps"][-1][1] == 0


def test_eval_on_the_gpu_gives_the_cpu_scores(cuda, tiny_checkpoint, data_dir, tmp_path):
    scores = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.json"
        assert run_cli(["eval", "--model", str(tiny_checkpoint), "--tasks", "STSBenchmark,SICKRelatedness",
                        "--split", "dev", "--device", device, "--data-dir", str(data_dir), "--output", str(out)]) == 0
        scores[device] = json.loads(out.read_text())
    for task in ("STSBenchmark", "SICKRelatedness"):
        assert scores["cuda"][task]["spearman"] == pytest.approx(scores["cpu"][task]["spearman"], abs=1e-4)
    assert scores["cuda"]["meta"]["device"] == "cuda"


def test_encoding_on_the_gpu_pins_its_batches_and_matches_the_cpu(cuda, tiny_bert):
    from lit_srl.encoder import SentenceEncoder
    from lit_srl.evaluation.encoding import SentenceShard, encode_sentences

    encoder = SentenceEncoder(str(tiny_bert), pooler="avg")
    on_cpu = encode_sentences(encoder, SENTENCES * 40, batch_size=16, device="cpu")
    on_gpu = encode_sentences(encoder, SENTENCES * 40, batch_size=16, device=cuda)
    assert on_gpu.device.type == "cpu" and on_gpu.dtype == torch.float32
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-4)
    assert all(t.is_pinned() for batch in SentenceShard(SENTENCES, encoder.tokenizer, 2, None) for t in batch.values())


class SyncRecorder(L.Callback):
    """Records the host syncs (``torch.cuda.set_sync_debug_mode("warn")``) of the steps that do
    not log: from the start of the batch to the end of the optimizer step, where they are by
    file name."""

    def __init__(self, log_every: int) -> None:
        self.log_every = log_every
        self.syncs: list[str] = []
        self._catcher = None

    def _logs(self, trainer) -> bool:
        return (trainer.global_step + 1) % self.log_every == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step >= 2 and not self._logs(trainer):  # after the warm-up steps
            self._catcher = warnings.catch_warnings(record=True)
            self._records = self._catcher.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._catcher is not None:
            torch.cuda.set_sync_debug_mode(0)
            self._catcher.__exit__(None, None, None)
            self.syncs += [f"{Path(w.filename).name}:{w.lineno}" for w in self._records
                           if "synchroniz" in str(w.message) and "transformers" not in Path(w.filename).parts]
            self._catcher = None


def test_a_step_that_does_not_log_makes_no_host_sync_outside_the_backbone_library(cuda, tiny_bert, data_dir, tmp_path):
    """Issue 17 item 1: non-finite steps are detected on the device; the only syncs left in a
    non-logging step are the backbone library's (transformers' mask handling, as a bare loop)."""
    recorder = SyncRecorder(log_every=10)
    from lit_srl.cli import lightning_cli

    args = fit_args(tmp_path, str(tiny_bert), "--trainer.accelerator=cuda", "--trainer.precision=bf16-mixed",
                    "--trainer.log_every_n_steps=10", "--model.pooler=avg", f"--data.tokenizer={tiny_bert}",
                    steps=8, val_every=100)
    cli = lightning_cli(args[1:], run=False)  # the recipe's trainer, plus the recorder
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert recorder.syncs == []

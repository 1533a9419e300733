"""Benchmark: lit_srl's one encode path against sentence-transformers, and validation against eval.

Two measurements on all-MiniLM-L6-v2 (mean pooling; ``--backbone FOLDER``: another Hugging Face
folder, mean pooling too), CPU unless --device says otherwise:

1. Encoding throughput on the *same* sentences with the *same* batch size: lit_srl's
   ``encode_sentences`` (batches sorted by token count) vs ``SentenceTransformer.encode``
   (batches sorted by characters). ``--sentences`` unique sentences drawn (seed 0) from the seven
   STS test sets, so no side gains from deduplication.
2. STS-B dev scored inside training — ``trainer.validate`` of the LightningModule with the
   DataModule's validation loader (what runs every ``val_check_interval``) — vs the ``eval``
   command's scoring (``STSEvaluator.evaluate``) of the same model: both times from the first
   batch to the score, model and data already loaded.

Both sides alternate ``--repeats`` times and the fastest of each is kept (other jobs on the
machine hit both alike).

    python benchmarks/bench_encode.py [--data-dir D] [--sentences 4000] [--batch-size 128] [--repeats 2]
        [--device cuda] [--backbone minilm|FOLDER]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import torch

from common import machine_line, versions


def best_of(repeats: int, *runs):
    """Alternate the callables ``repeats`` times; the fastest wall time of each: [(seconds, result)]."""
    best = [(float("inf"), None)] * len(runs)
    for _ in range(repeats):
        for k, run in enumerate(runs):
            start = time.perf_counter()
            result = run()
            elapsed = time.perf_counter() - start
            if elapsed < best[k][0]:
                best[k] = (elapsed, result)
    return best


def throughput(args, encoder, sentences):
    from sentence_transformers import SentenceTransformer

    from lit_srl.backbones import resolve_backbone
    from lit_srl.evaluation.encoding import encode_sentences

    model = SentenceTransformer(str(resolve_backbone(args.backbone)), device=args.device)
    warm = sentences[:256]
    encode_sentences(encoder, warm, args.batch_size, args.device)
    model.encode(warm, batch_size=args.batch_size)
    (t_ours, ours), (t_st, theirs) = best_of(
        args.repeats,
        lambda: encode_sentences(encoder, sentences, args.batch_size, args.device),
        lambda: torch.as_tensor(model.encode(sentences, batch_size=args.batch_size, convert_to_numpy=True)),
    )
    # all-MiniLM-L6-v2's sentence-transformers pipeline ends with Normalize: compare directions
    unit = torch.nn.functional.normalize
    diff = float((unit(ours, dim=-1) - unit(theirs.float(), dim=-1)).abs().max())
    return t_ours, t_st, diff


def validation_vs_eval(args, backbone: str):
    import lightning as L

    from lit_srl.datamodule import SentenceDataModule
    from lit_srl.evaluation import STSEvaluator
    from lit_srl.model import SentenceEmbeddingModule

    class Stamp(L.Callback):
        def on_validation_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_validation_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.start

    module = SentenceEmbeddingModule(backbone=backbone, pooler="avg", head="none")
    datamodule = SentenceDataModule(
        tokenizer=backbone, data_dir=args.data_dir, val_tasks=["STSBenchmark"], val_split="dev",
        eval_batch_size=args.batch_size,
    )
    stamp = Stamp()
    trainer = L.Trainer(
        accelerator="cuda" if args.device == "cuda" else "cpu", devices=1, logger=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[stamp],
    )
    evaluator = STSEvaluator.from_data_dir(args.data_dir, "STSBenchmark", "dev")

    def validate():
        metrics = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
        return stamp.seconds, metrics["val/stsb_spearman"]

    def evaluate():
        return evaluator.evaluate(module.encoder, args.batch_size, args.device)["STSBenchmark"]["spearman"]

    validate()  # loads the data and builds the loader once, like a fit's first validation
    (_, (t_val, rho_val)), (t_eval, rho_eval) = best_of(args.repeats, validate, evaluate)
    return t_val, t_eval, rho_val, rho_eval, len(evaluator)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"))
    parser.add_argument("--sentences", type=int, default=4000, help="unique STS test sentences to encode")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone", default="minilm", help="minilm or a Hugging Face folder (mean pooling)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    from lit_srl.encoder import SentenceEncoder
    from lit_srl.evaluation import STSEvaluator

    pool = STSEvaluator.from_data_dir(args.data_dir, split="test").sentences
    sentences = random.Random(0).sample(pool, min(args.sentences, len(pool)))
    encoder = SentenceEncoder(args.backbone, pooler="avg", head="none").to(args.device)
    t_ours, t_st, diff = throughput(args, encoder, sentences)
    # the validation and eval timings run on their own validation of the same model
    t_val, t_eval, rho_val, rho_eval, n_dev = validation_vs_eval(args, args.backbone)

    n = len(sentences)
    model = "all-MiniLM-L6-v2" if args.backbone == "minilm" else args.backbone
    print(f"## Encode path: throughput and in-training validation ({model}, avg pooling)\n")
    print(f"- machine: {machine_line()}; device {args.device}")
    print(f"- versions: {', '.join(f'{k} {v}' for k, v in versions().items())}")
    print(f"- command: `python {' '.join([sys.argv[0]] + (argv or sys.argv[1:]))}` (batch size {args.batch_size} "
          f"everywhere; fastest of {args.repeats} alternating run(s))\n")
    print(f"Throughput on the same {n} unique sentences (drawn with seed 0 from the seven STS test sets):\n")
    print("| encoder | batches sorted by | wall time (s) | sentences/s |")
    print("|---|---|---:|---:|")
    print(f"| lit_srl `encode_sentences` | token count | {t_ours:.1f} | {n / t_ours:.0f} |")
    print(f"| sentence-transformers `encode` | characters | {t_st:.1f} | {n / t_st:.0f} |")
    print(f"\nours / theirs: **{t_st / t_ours:.2f}x** the sentences per second; largest difference of the unit embeddings {diff:.1e}\n")
    print(f"STS-B dev ({n_dev} unique sentences), model and data loaded:\n")
    print("| path | wall time (s) | Spearman ×100 |")
    print("|---|---:|---:|")
    print(f"| in-training validation (`trainer.validate`, the DataModule's loader) | {t_val:.1f} | {100 * rho_val:.4f} |")
    print(f"| `eval --tasks STSBenchmark --split dev` (`STSEvaluator.evaluate`) | {t_eval:.1f} | {100 * rho_eval:.4f} |")
    print(f"\nvalidation / eval: **{t_val / t_eval:.2f}x** the time; |Δ Spearman| = {abs(rho_val - rho_eval):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

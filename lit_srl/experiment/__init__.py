"""``python -m lit_srl experiment``: every objective trained for one budget, scored on STS, tabulated.

    python -m lit_srl experiment --backbone minilm --budget 80 --seeds 1 2 \\
        [--objectives infonce,arccon,...] [--batch-size 64] [--lr 3e-5] [--val-every N] \\
        [--freeze-embeddings] [--settings configs/experiment/paper_bert_base.yaml] \\
        [--output-dir results] [--report RESULTS.md] [--data-dir D] [--tasks STS12,...] [--overwrite]

For every (objective, seed) it trains a fresh copy of the backbone with the loss preset
``configs/loss/<objective>.yaml`` (its ``class_path``/``init_args``) on the real training path — a
Lightning ``Trainer`` fitting :class:`~lit_srl.model.SentenceEmbeddingModule` on
:class:`~lit_srl.data.datamodule.SentenceDataModule` for ``--budget`` optimizer steps, with
:class:`lit_srl.callbacks.GradientComponentMonitor` logging GD, W and R — then scores the final
weights (or, with ``--val-every N``, those with the best STS-B dev Spearman, as the paper selects)
on the STS suite (:meth:`lit_srl.evaluation.STSEvaluator.evaluate`, test splits). The untrained
backbone is scored once as the baseline row. ``--settings`` gives objectives their own lr, batch
size and budget (the paper's released scripts differ per objective).

Each run writes ``<output-dir>/<objective>_seed<k>.json``: the scores, the means over the run of
what the monitor logged (``grad/gd_mean``, ``grad/w_hardest``, ``grad/ratio_mean``, the cosine
statistics), the dev curve and selected step, timings and the config; TensorBoard logs go to
``<output-dir>/runs/``. The report (``--report``) is a markdown table of the objectives' mean
(± std over seeds) scores ×100, their change against the baseline and the components, with the
command, budget, seeds, machine and date, and links ``<output-dir>/objectives.png``
(:mod:`lit_srl.analysis.results_figure`: the paper's Figure 1 comparison). Runs whose JSON exists
are skipped (resume by rerunning the same command) unless ``--overwrite``; nothing is ever deleted.

Modules: :mod:`.objectives` (presets, settings files), :mod:`.runs` (one run), :mod:`.records`
(result JSONs), :mod:`.report` (the table).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

from lit_srl.analysis.results_figure import plot_objectives
from lit_srl.errors import LitSrlError
from lit_srl.experiment.objectives import DISPLAY, OBJECTIVES, load_preset, load_settings, parse_objectives
from lit_srl.experiment.records import BASELINE_KEYS, RUN_KEYS, existing, write_json
from lit_srl.experiment.report import format_report
from lit_srl.experiment.runs import score_baseline, train_and_score

__all__ = ["OBJECTIVES", "format_report", "load_settings", "main", "score_baseline", "train_and_score"]

log = logging.getLogger("lit_srl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lit_srl experiment",
        description="Train every objective for the same budget, score STS, write result JSONs and a table.",
    )
    parser.add_argument("--backbone", default="minilm", help="minilm, a Hugging Face folder or a hub name")
    parser.add_argument("--budget", type=int, required=True, help="optimizer steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="one run per seed (default: 1)")
    parser.add_argument("--objectives", default="all", help=f"comma-separated presets (default all: {','.join(OBJECTIVES)})")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--pooler", default=None, help="default: avg for minilm (trained with mean pooling), else cls")
    parser.add_argument("--output-dir", default="results", help="result JSONs (and runs/ with TensorBoard logs)")
    parser.add_argument("--report", default="RESULTS.md", help="the markdown table to write")
    parser.add_argument("--data-dir", default=None, help="the data root (default: $LIT_SRL_DATA or ./data)")
    parser.add_argument("--train-files", default="corpus/wiki1m_head.txt", help="corpus files/globs, comma-separated")
    parser.add_argument("--tasks", default=None, help="comma-separated STS tasks (default: all 7)")
    parser.add_argument("--num-workers", type=int, default=1, help="DataLoader workers tokenising the corpus")
    parser.add_argument("--log-every", type=int, default=10, help="monitor interval in steps (capped at --budget)")
    parser.add_argument("--eval-batch-size", type=int, default=128)
    parser.add_argument("--precision", default=None, help="trainer precision (default: bf16-mixed on CUDA, else 32-true)")
    parser.add_argument("--val-every", type=int, default=None,
                        help="score STS-B dev every N steps and test the best-dev weights (the paper's selection); "
                             "default: test the final weights")
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="freeze the embedding layer, as the paper's code does (default: train it, as SimCSE)")
    parser.add_argument("--settings", default=None,
                        help="YAML of per-objective lr/batch_size/budget (e.g. configs/experiment/paper_bert_base.yaml); "
                             "objectives it does not list use --lr/--batch-size/--budget")
    parser.add_argument("--overwrite", action="store_true", help="rerun and replace existing result JSONs")
    return parser

def check_args(args: argparse.Namespace) -> None:
    for name in ("budget", "batch_size", "max_length", "log_every", "eval_batch_size", "val_every"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise LitSrlError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.lr <= 0:
        raise LitSrlError(f"--lr must be positive, got {args.lr}")
    if len(set(args.seeds)) != len(args.seeds):
        raise LitSrlError(f"--seeds has duplicates: {args.seeds}")

def make_config(args: argparse.Namespace) -> dict:
    import torch

    from lit_srl.data.datamodule import default_data_dir
    from lit_srl.evaluation.tasks import parse_tasks

    return {
        "backbone": args.backbone,
        "pooler": args.pooler or ("avg" if args.backbone == "minilm" else "cls"),
        "budget": args.budget,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "max_length": args.max_length,
        "train_files": [f.strip() for f in args.train_files.split(",") if f.strip()],
        "tasks": parse_tasks(args.tasks, "test"),
        "data_dir": str(Path(os.path.expanduser(args.data_dir or default_data_dir())).resolve()),
        "num_workers": args.num_workers,
        "log_every": args.log_every,
        "eval_batch_size": args.eval_batch_size,
        "val_every": args.val_every,
        "freeze_embeddings": args.freeze_embeddings,
        "precision": args.precision or ("bf16-mixed" if torch.cuda.is_available() else "32-true"),
    }

def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lit_srl experiment``; 0 when every run succeeded, else 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    check_args(args)
    objectives = parse_objectives(args.objectives)
    presets = {name: load_preset(name) for name in objectives}
    settings = load_settings(args.settings)
    config = make_config(args)
    from lit_srl.data.corpus import check_corpus, resolve_train_files
    from lit_srl.evaluation import STSEvaluator

    check_corpus(resolve_train_files(config["train_files"], config["data_dir"]))  # fail now, not in run 1
    evaluator = STSEvaluator.from_data_dir(config["data_dir"], tasks=config["tasks"], split="test")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "-m", "lit_srl", "experiment", *argv])

    baseline_path = output_dir / "baseline.json"
    baseline = None if args.overwrite else existing(baseline_path, config, BASELINE_KEYS)
    if baseline is None:
        log.info("scoring the untrained backbone %s", config["backbone"])
        baseline = score_baseline(config, evaluator)
        write_json(baseline_path, baseline)

    records: dict[str, list[dict]] = {name: [] for name in objectives}
    failures: dict[tuple[str, int], str] = {}
    for objective in objectives:
        run_config = {**config, **settings.get(objective, {}), "loss": presets[objective], "objective": objective}
        for seed in args.seeds:
            path = output_dir / f"{objective}_seed{seed}.json"
            record = None if args.overwrite else existing(path, run_config, RUN_KEYS)
            if record is not None:
                log.info("skip %s seed %d: %s exists", objective, seed, path)
            else:
                log.info("train %s seed %d for %d steps", objective, seed, run_config["budget"])
                try:
                    record = train_and_score(objective, seed, run_config, evaluator, output_dir)
                except LitSrlError as exc:  # e.g. a diverging loss: keep going, report it, retry on rerun
                    failures[(objective, seed)] = str(exc)
                    log.error("%s seed %d failed: %s", objective, seed, exc)
                    continue
                write_json(path, record)
                log.info("%s seed %d: avg %.2f (train %.0f s, eval %.0f s) -> %s", objective, seed,
                         100 * record["scores"]["avg"], record["train"]["seconds"], record["eval_seconds"], path)
            records[objective].append(record)
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    figure = plot_objectives(
        records, baseline, DISPLAY, output_dir / "objectives.png",
        f"{config['backbone']}, {config['budget']} steps of batch {config['batch_size']}: change against the untrained backbone",
    )
    link = None if figure is None else Path(os.path.relpath(figure, report.parent)).as_posix()
    report.write_text(format_report(command, config, args.seeds, baseline, records, failures, link, settings), encoding="utf-8")
    log.info("wrote %s", report)
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    from lit_srl.cli import _setup_logging

    _setup_logging()
    try:
        sys.exit(main())
    except LitSrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)

"""``python -m lit_srl eval``: score a model on the STS suite and/or the transfer tasks, print the
table, write JSON.

    python -m lit_srl eval --model minilm --pooler avg --output results.json
    python -m lit_srl eval --model minilm --pooler avg --tasks transfer   # MR … MRPC (slower)
    python -m lit_srl eval --model minilm --pooler avg --tasks full       # STS + transfer

``--tasks`` takes task names (``STS12,MR``) or a set: ``sts`` (the default), ``transfer`` (SentEval's
seven classification tasks, :mod:`lit_srl.evaluation.transfer`) or ``full`` (both). Transfer tasks
follow SimCSE's ``evaluation.py``: ``--split test`` reports test accuracy with the full classifier
settings (its ``--mode test``), ``--split dev`` the cross-validation/dev accuracy with the fast ones
(its ``--mode dev``); ``--transfer-mode`` overrides the settings (``fast`` with ``--split test``
is its ``fasttest``).

``--model`` is a ``.ckpt`` of ours (its pooler and head come from the checkpoint), a Hugging Face
folder, a hub name or the alias ``minilm``. For the latter ``--pooler`` defaults to the pooling
of a sentence-transformers folder (its ``1_Pooling/config.json``), else ``cls_before_pooler``.
``--pooler cls`` on a Hugging Face model uses its trained pooler layer ([CLS] → Linear → Tanh,
``pooler_output``), as SimCSE's ``evaluation.py`` does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from lit_srl.errors import LitSrlError, check_choice
from lit_srl.evaluation.encoding import PRECISIONS
from lit_srl.evaluation.evaluator import STSEvaluator
from lit_srl.evaluation.tasks import TASKS, default_data_dir, parse_tasks
from lit_srl.evaluation.transfer import DEFAULT_SEED, MODES, TRANSFER_TASKS, TransferEvaluator, transfer_average
from lit_srl.poolers import POOLERS

_MODEL_HINT = "give a .ckpt of ours, a Hugging Face model folder, a hub name, or the alias minilm"


def _is_checkpoint(model: str) -> bool:
    return model.endswith(".ckpt")


def _looks_like_path(model: str) -> bool:
    """Hub names are ``name`` or ``org/name``; anything else with a slash is a path."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or os.sep != "/" and os.sep in model


def sentence_transformers_pooler(folder: os.PathLike | str) -> Optional[str]:
    """Our pooler for a sentence-transformers folder's ``1_Pooling/config.json``, if it has one:
    mean tokens → ``avg``, cls token → ``cls_before_pooler``; ``None`` otherwise."""
    path = Path(folder) / "1_Pooling" / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("pooling_mode_mean_tokens"):
        return "avg"
    if config.get("pooling_mode_cls_token"):
        return "cls_before_pooler"
    return None


def _local_folder(model: str) -> Optional[Path]:
    """The local folder a (resolved) model name points at, or the hub cache's copy of it."""
    from lit_srl.backbones import resolve_backbone

    resolved = Path(resolve_backbone(model))
    if resolved.is_dir():
        return resolved
    try:  # a hub name: look in the local cache only (no network)
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "1_Pooling/config.json")
        if isinstance(cached, str):
            return Path(cached).parent.parent
    except Exception:  # pragma: no cover - huggingface_hub layout differences
        pass
    return None


def _with_hf_pooler_layer(encoder, model: str):
    """Make ``encoder``'s head the backbone's trained pooler layer (Linear + Tanh), kept at eval."""
    from transformers import AutoModel

    from lit_srl.backbones import resolve_backbone

    full, info = AutoModel.from_pretrained(resolve_backbone(model), output_loading_info=True)
    layer = getattr(getattr(full, "pooler", None), "dense", None)
    if layer is None or any(key.startswith("pooler.") for key in info.get("missing_keys", [])):
        raise LitSrlError(
            f"model {model!r} has no trained pooler layer for --pooler cls; "
            f"use --pooler cls_before_pooler (or avg)"
        )
    encoder.head[0].load_state_dict(layer.state_dict())
    encoder.head_at_eval = True
    return encoder


def load_eval_encoder(model: str, pooler: Optional[str] = None):
    """Build the :class:`~lit_srl.encoder.SentenceEncoder` that ``eval`` scores.

    Returns ``(encoder, pooler)``. A ``.ckpt`` carries its own pooler (``pooler`` must be None or
    equal); other models get ``pooler`` or the default described in the module docstring.
    """
    from lit_srl.encoder import SentenceEncoder

    if pooler is not None:
        check_choice("pooler", pooler, POOLERS)
    if _is_checkpoint(model):
        path = Path(os.path.expanduser(model))
        from lit_srl.checkpoint import load_encoder  # missing, a folder, unreadable: one line naming it

        encoder = load_encoder(str(path), map_location="cpu")
        if pooler is not None and pooler != encoder.pooler:
            raise LitSrlError(
                f"checkpoint {model} was trained with pooler {encoder.pooler!r}, not {pooler!r}; "
                f"drop --pooler (the checkpoint knows its pooler)"
            )
        return encoder, encoder.pooler
    if _looks_like_path(model) and not Path(os.path.expanduser(model)).exists():
        raise LitSrlError(f"model {model} does not exist; {_MODEL_HINT}")
    if pooler is None:
        folder = _local_folder(model)
        pooler = (sentence_transformers_pooler(folder) if folder else None) or "cls_before_pooler"
    if pooler == "cls":
        encoder = SentenceEncoder(model, pooler="cls", head="mlp", head_at_eval=True)
        return _with_hf_pooler_layer(encoder, model), pooler
    return SentenceEncoder(model, pooler=pooler, head="none"), pooler


def format_table(results: dict, title: str = "") -> str:
    """The results as papers print them: ×100, two decimals; per-subset rows indented."""
    def pct(x: float) -> str:
        return "   nan" if x is None or math.isnan(x) else f"{100 * x:6.2f}"

    tasks = [k for k in results if k not in ("avg", "meta")]
    width = max([len("task"), len("avg")] + [len(t) for t in tasks]
                + [len(s) + 4 for t in tasks for s in results[t].get("subsets", {})])
    lines = [title] if title else []
    header = f"{'task':<{width}}  {'Spearman':>8}  {'Pearson':>8}  {'pairs':>6}"
    lines += [header, "-" * len(header)]
    for task in tasks:
        r = results[task]
        lines.append(f"{task:<{width}}  {pct(r['spearman']):>8}  {pct(r['pearson']):>8}  {r['n_pairs']:>6}")
        for name, s in r.get("subsets", {}).items():
            lines.append(
                f"{'    ' + name:<{width}}  {pct(s['spearman']):>8}  {pct(s['pearson']):>8}  {s['n_pairs']:>6}"
            )
        if "wmean_spearman" in r:
            lines.append(
                f"{'    (wmean)':<{width}}  {pct(r['wmean_spearman']):>8}  {pct(r['wmean_pearson']):>8}  {'':>6}"
            )
    lines.append("-" * len(header))
    lines.append(f"{'avg':<{width}}  {pct(results['avg']):>8}")
    return "\n".join(lines)


#: ``--tasks`` keywords: the task sets of SimCSE's ``--task_set``.
TASK_SETS = ("sts", "transfer", "full")


def select_tasks(tasks: Optional[str], split: str = "test") -> tuple[list[str], list[str]]:
    """``--tasks`` → (STS task names, transfer task names), checked, in the order papers print them.

    ``None`` or ``sts``: the STS suite of ``split``; ``transfer``: the seven transfer tasks;
    ``full``: both; else comma-separated names of either kind.
    """
    names = [t.strip() for t in (tasks or "sts").split(",") if t.strip()]
    if not names:
        raise LitSrlError(f"no task given; valid choices: {', '.join([*TASK_SETS, *TASKS, *TRANSFER_TASKS])}")
    sts, transfer = [], []
    for name in names:
        check_choice("task", name, [*TASK_SETS, *TASKS, *TRANSFER_TASKS])
        if name in ("sts", "full"):
            sts += parse_tasks(None, split)
        if name in ("transfer", "full"):
            transfer += TRANSFER_TASKS
        if name in TASKS:
            sts.append(name)
        elif name in TRANSFER_TASKS:
            transfer.append(name)
    if transfer and split == "train":
        raise LitSrlError("transfer tasks have no --split train (test: test accuracy, dev: cross-validation accuracy)")
    sts = parse_tasks(sts, split) if sts else []
    return sts, [t for t in TRANSFER_TASKS if t in transfer]


def transfer_score_key(split: str) -> str:
    """Which accuracy a transfer task reports: test accuracy for ``--split test``, else dev."""
    return "accuracy" if split == "test" else "dev_accuracy"


def format_transfer_table(results: dict, key: str = "accuracy", title: str = "") -> str:
    """The transfer tasks present in ``results`` as SimCSE prints them: accuracy ×100 and "Avg."."""
    tasks = [t for t in TRANSFER_TASKS if t in results]
    lines = [title] if title else []
    header = f"{'task':<6}  {'accuracy' if key == 'accuracy' else 'dev acc':>8}  {'n_test':>6}"
    lines += [header, "-" * len(header)]
    for task in tasks:
        lines.append(f"{task:<6}  {100 * results[task][key]:8.2f}  {results[task]['n_test']:>6}")
    lines += ["-" * len(header), f"{'avg':<6}  {100 * transfer_average(results, key):8.2f}"]
    return "\n".join(lines)


def _jsonable(value):
    """NaN → None (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("lit-srl")
    except Exception:  # pragma: no cover - not installed
        return getattr(sys.modules.get("lit_srl"), "__version__", "unknown")


def _mode_line(name: str) -> str:
    m = MODES[name]
    return (f"{m.optimizer}, batch {m.batch_size}, tenacity {m.tenacity}, epoch size {m.epoch_size}, "
            f"{m.folds} folds")


def _epilog() -> str:
    """``eval --help``'s account of the tasks, splits and transfer modes (from the constants)."""
    dev = ", ".join(parse_tasks(None, "dev"))
    return f"""tasks (--tasks: comma-separated task names, or one of the sets {' | '.join(TASK_SETS)}):
  sts       {', '.join(TASKS)}
            (the default; with --split dev or train: {dev}).
            Cosine similarity of the two sentences' embeddings against the gold scores: Spearman
            (and Pearson), STS12-16 over all their subsets together ('all'), as SimCSE reports them.
  transfer  {', '.join(TRANSFER_TASKS)} (SimCSE's --task_set transfer).
            A logistic regression on the frozen embeddings, accuracy: MR, CR, SUBJ, MPQA by
            k-fold cross-validation with the L2 chosen inside each fold; SST2 on its train/dev/test;
            TREC and MRPC on train/test with the L2 chosen by cross-validation on train (MRPC on
            [|u - v|, u * v]). Data: python -m lit_srl data download --only transfer.
  full      both (SimCSE's --task_set full).

splits and transfer modes (SimCSE's --mode):
  --split test   STS test sets; transfer test accuracy, full classifier          (--mode test)
  --split dev    STS-B and SICK-R dev; transfer dev / cross-validation accuracy,
                 fast classifier                                                 (--mode dev)
  --split test --transfer-mode fast                                              (--mode fasttest)
  --split train  STS-B and SICK-R train (no transfer task)
  full: {_mode_line("full")}
  fast: {_mode_line("fast")}

output: a table ×100 (STS: Spearman, Pearson, pairs; transfer: accuracy, test size, avg); --output
writes JSON keyed by task: STS {{"spearman", "pearson", "n_pairs", …}}, "avg"; transfer
{{"accuracy", "dev_accuracy", "n_test", …}} (fractions), "transfer_avg"; and "meta"."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lit_srl eval",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score a model on SentEval's STS suite (cosine similarity, Spearman) and/or its seven "
                    "transfer tasks (logistic regression on the embeddings, accuracy), as SimCSE's evaluation.py does.",
        epilog=_epilog(),
    )
    parser.add_argument("--model", required=True, help="a .ckpt of ours, a HF folder, a hub name or minilm")
    parser.add_argument("--pooler", default=None, help=f"one of {', '.join(POOLERS)} (not for .ckpt)")
    parser.add_argument("--tasks", default=None, help=f"comma-separated task names, or {' | '.join(TASK_SETS)} "
                        "(default: sts); see below")
    parser.add_argument("--split", default="test", help="test | dev | train (train: STS-B and SICK-R only); "
                        "for transfer tasks test reports test accuracy, dev the dev/cross-validation accuracy")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens")
    parser.add_argument("--data-dir", default=None, help="data root holding senteval/ (default: $LIT_SRL_DATA)")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    parser.add_argument("--precision", default="32", help="32 | bf16 (autocast; cosines stay fp32+)")
    parser.add_argument("--transfer-mode", default=None, help=f"{' | '.join(MODES)}: the transfer classifier's "
                        "settings (default: full for --split test, fast for dev); see below")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the transfer classifiers and folds "
                        f"(default: SentEval's {DEFAULT_SEED})")
    return parser


def run(args: argparse.Namespace) -> dict:
    """Evaluate as ``args`` say; returns the results dict with its ``meta`` block."""
    check_choice("split", args.split, ("train", "dev", "test"))
    check_choice("precision", args.precision, PRECISIONS)
    if args.batch_size < 1:
        raise LitSrlError(f"--batch-size must be at least 1, got {args.batch_size}")
    tasks, transfer_tasks = select_tasks(args.tasks, args.split)
    transfer_mode = args.transfer_mode or ("full" if args.split == "test" else "fast")
    check_choice("transfer mode", transfer_mode, MODES)
    if args.pooler is not None:
        check_choice("pooler", args.pooler, POOLERS)
    if _looks_like_path(args.model) or _is_checkpoint(args.model):
        if not Path(os.path.expanduser(args.model)).exists():
            raise LitSrlError(f"model {args.model} does not exist; {_MODEL_HINT}")
    if args.output and Path(args.output).exists() and not args.overwrite:
        raise LitSrlError(f"{args.output} already exists; pass --overwrite to replace it")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LitSrlError("--device cuda but no CUDA device is available; use --device cpu")
    evaluator = STSEvaluator.from_data_dir(args.data_dir, tasks, args.split) if tasks else None
    transfer = TransferEvaluator.from_data_dir(args.data_dir, transfer_tasks, transfer_mode, args.seed) if transfer_tasks else None
    encoder, pooler = load_eval_encoder(args.model, args.pooler)
    encoder.to(device)
    results = evaluator.evaluate(encoder, args.batch_size, device, args.max_length, args.precision) if evaluator else {}
    if transfer:
        results.update(transfer.evaluate(encoder, args.batch_size, device, args.max_length, args.precision))
        results["transfer_avg"] = transfer_average(results, transfer_score_key(args.split))
    results["meta"] = {
        "model": args.model,
        "pooler": pooler,
        "head_at_eval": bool(encoder.head_at_eval and encoder.head is not None),
        "split": args.split,
        "tasks": tasks + transfer_tasks,
        "data_dir": str(Path(args.data_dir or default_data_dir()).expanduser().resolve()),
        "unique_sentences": len(evaluator) if evaluator else 0,
        **({"transfer_sentences": len(transfer), "transfer_mode": transfer_mode, "transfer_score": transfer_score_key(args.split),
            "seed": args.seed} if transfer else {}),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "device": str(device),
        "precision": args.precision,
        "lit_srl": _version(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lit_srl eval``; returns the exit status (0)."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    results = run(args)
    meta = results["meta"]
    title = f"{meta['model']} (pooler {meta['pooler']}, split {meta['split']}) ×100"
    if meta["unique_sentences"]:
        print(format_table({k: v for k, v in results.items() if k not in (*TRANSFER_TASKS, "transfer_avg")}, title))
    if "transfer_avg" in results:
        print(format_transfer_table(results, meta["transfer_score"], f"{title}, transfer ({meta['transfer_mode']} mode)"))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_jsonable(results), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(main())
    except LitSrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)

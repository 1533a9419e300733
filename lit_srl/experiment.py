"""``python -m lit_srl experiment``: every objective trained for one budget, scored on STS, tabulated.

    python -m lit_srl experiment --backbone minilm --budget 150 --seeds 1 2 \\
        [--objectives infonce,arccon,...] [--batch-size 64] [--lr 3e-5] [--output-dir results] \\
        [--report RESULTS.md] [--data-dir D] [--tasks STS12,...] [--overwrite]

For every (objective, seed) it trains a fresh copy of the backbone with the loss preset
``configs/loss/<objective>.yaml`` (its ``class_path``/``init_args``) on the real training path — a
Lightning ``Trainer`` fitting :class:`~lit_srl.model.SentenceEmbeddingModule` on
:class:`~lit_srl.data.datamodule.SentenceDataModule` for ``--budget`` optimizer steps, with
:class:`lit_srl.callbacks.GradientComponentMonitor` logging GD, W and R — then scores the *final*
model on the STS suite (:meth:`lit_srl.evaluation.STSEvaluator.evaluate`, test splits). The
untrained backbone is scored once as the baseline row.

Each run writes ``<output-dir>/<objective>_seed<k>.json``: the scores, the means over the run of
what the monitor logged (``grad/gd_mean``, ``grad/w_hardest``, ``grad/ratio_mean``, the cosine
statistics), timings and the config; TensorBoard logs go to ``<output-dir>/runs/``. The report
(``--report``) is a markdown table of the objectives' mean (± std over seeds) scores ×100 and
components, with the command, budget, seeds, machine and date, and links
``<output-dir>/objectives.png`` (:mod:`lit_srl.analysis.results_figure`: each objective's change
against the untrained backbone, the paper's Figure 1 comparison). Runs whose JSON exists are skipped
(resume by rerunning the same command) unless ``--overwrite``; nothing is ever deleted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import lit_srl
from lit_srl.analysis.results_figure import plot_objectives
from lit_srl.errors import LitSrlError

log = logging.getLogger("lit_srl")

#: The objectives of the paper's comparison, in table order (preset names in configs/loss).
OBJECTIVES = (
    "infonce", "arccon", "mpt", "met",
    "barlowtwins", "barlowtwins_mod", "vicreg", "vicreg_mod", "mhe", "mhe_mod", "mhs", "mhs_mod",
)
DISPLAY = {
    "infonce": "InfoNCE", "arccon": "ArcCon", "mpt": "MPT", "met": "MET", "sg": "sg (assembled)",
    "barlowtwins": "Barlow Twins ori", "barlowtwins_mod": "Barlow Twins mod",
    "vicreg": "VICReg ori", "vicreg_mod": "VICReg mod",
    "mhe": "MHE ori", "mhe_mod": "MHE mod", "mhs": "MHS ori", "mhs_mod": "MHS mod",
}
TASK_COLUMNS = {"STSBenchmark": "STS-B", "SICKRelatedness": "SICK-R"}
#: Monitor scalars kept (mean over the run) in each result JSON: log name → JSON key.
MONITORED = {
    "grad/gd_mean": "gd_mean", "grad/w_hardest": "w_hardest", "grad/ratio_mean": "ratio_mean",
    "cos/pos_mean": "cos_pos_mean", "cos/neg_mean": "cos_neg_mean", "cos/neg_max_mean": "cos_neg_max_mean",
    "cos/alignment": "alignment", "cos/uniformity": "uniformity",
}
#: Config entries that must match for an existing result JSON to count as this run's.
RUN_KEYS = (
    "backbone", "pooler", "budget", "batch_size", "lr", "max_length", "train_files", "tasks", "loss", "val_every",
    "freeze_embeddings",
)
#: Values of config entries added after the first result JSONs were written (older JSONs ran with these).
KEY_DEFAULTS = {"val_every": None, "freeze_embeddings": False}
BASELINE_KEYS = ("backbone", "pooler", "tasks")


# ---------------------------------------------------------------------------------- presets
def presets_dir() -> Path:
    """``configs/loss`` of the source checkout the package lives in."""
    folder = Path(lit_srl.__file__).resolve().parents[1] / "configs" / "loss"
    if not folder.is_dir():
        raise LitSrlError(
            f"the loss presets folder {folder} does not exist; the experiment reads configs/loss/*.yaml of a "
            "source checkout: install lit_srl from its repository with pip install -e ."
        )
    return folder


def available_objectives() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def load_preset(name: str) -> dict:
    """``{"class_path", "init_args"}`` of ``configs/loss/<name>.yaml``."""
    import yaml

    path = presets_dir() / f"{name}.yaml"
    if not path.is_file():
        raise LitSrlError(f"unknown objective {name!r} (no {path}); valid choices: {', '.join(available_objectives())}")
    spec = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("model", {}).get("loss")
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise LitSrlError(f"{path} has no model.loss.class_path; a loss preset sets model: loss: class_path/init_args")
    return {"class_path": str(spec["class_path"]), "init_args": dict(spec.get("init_args") or {})}


#: What a settings file may set per objective, with the check each value must pass.
SETTING_CHECKS = {
    "lr": (lambda v: isinstance(v, (int, float)) and v > 0, "a positive number"),
    "batch_size": (lambda v: isinstance(v, int) and v >= 2, "an integer of at least 2"),
    "budget": (lambda v: isinstance(v, int) and v >= 1, "an integer of at least 1"),
}


def load_settings(path: Optional[str]) -> dict[str, dict]:
    """Per-objective overrides from a YAML file: ``{objective: {lr?, batch_size?, budget?}}``.

    The file holds one mapping, ``objectives:``; each entry names a preset and sets any of
    :data:`SETTING_CHECKS`. A missing file, an unknown objective or key, or a bad value is a
    :class:`LitSrlError` naming it.
    """
    import yaml

    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise LitSrlError(f"--settings file {file} does not exist; see configs/experiment/ for an example")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LitSrlError(f"--settings file {file} is not valid YAML ({str(exc).splitlines()[0]})") from exc
    table = data.get("objectives") if isinstance(data, dict) else None
    if not isinstance(table, dict) or set(data) != {"objectives"}:
        raise LitSrlError(f"{file} must hold one mapping, objectives: {{<objective>: {{lr, batch_size, budget}}}}")
    valid = available_objectives()
    settings: dict[str, dict] = {}
    for name, values in table.items():
        if name not in valid:
            raise LitSrlError(f"{file}: unknown objective {name!r}; valid choices: {', '.join(valid)}")
        if not isinstance(values, dict):
            raise LitSrlError(f"{file}: {name} must map to settings ({', '.join(SETTING_CHECKS)}), got {values!r}")
        for key, value in values.items():
            if key not in SETTING_CHECKS:
                raise LitSrlError(f"{file}: {name}.{key} is not a setting; valid: {', '.join(SETTING_CHECKS)}")
            check, wanted = SETTING_CHECKS[key]
            if isinstance(value, bool) or not check(value):
                raise LitSrlError(f"{file}: {name}.{key} must be {wanted}, got {value!r}")
        settings[name] = dict(values)
    return settings


def parse_objectives(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise LitSrlError(f"--objectives is empty; valid choices: {', '.join(available_objectives())}")
    if names == ["all"]:
        return list(OBJECTIVES)
    valid = available_objectives()
    for name in names:
        if name not in valid:
            raise LitSrlError(f"unknown objective {name!r}; valid choices: {', '.join(valid)} (or all)")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------- parsing
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


# ------------------------------------------------------------------------------ the runs
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, record: dict) -> None:
    """Write atomically (a temporary file renamed over the target)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(record), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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


# ------------------------------------------------------------------------------ bookkeeping
def machine() -> str:
    """CPU model, cores, RAM and the GPU, in one line."""
    import torch

    cpu, ram = platform.processor() or "unknown CPU", "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name"))
        kib = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:"))
        ram = f"{kib / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {ram} RAM, {gpu}"


def meta() -> dict:
    import lightning
    import torch
    import transformers

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {
            "python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
            "transformers": transformers.__version__, "lit_srl": getattr(lit_srl, "__version__", "unknown"),
        },
    }


def existing(path: Path, config: dict, keys: Sequence[str]) -> Optional[dict]:
    """The record at ``path`` if it exists; a LitSrlError if it was made with another config."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LitSrlError(f"{path} is not a readable result JSON ({exc}); move it away or pass --overwrite") from exc
    old = record.get("config", {})
    old = {k: old.get(k, KEY_DEFAULTS.get(k)) for k in keys}
    differ = [k for k in keys if _jsonable(old[k]) != _jsonable(config.get(k))]
    if differ:
        detail = ", ".join(f"{k}: {old[k]!r} there, {config.get(k)!r} now" for k in differ)
        raise LitSrlError(
            f"{path} was made with another config ({detail}); use another --output-dir or pass --overwrite"
        )
    return record


# ----------------------------------------------------------------------------------- report
def _cell(values: list[Optional[float]], scale: float = 1.0, digits: int = 2) -> str:
    values = [v * scale for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _signed(cell: str) -> str:
    """``"0.95"`` → ``"+0.95"``: a change against the baseline reads as one."""
    return cell if cell.startswith(("-", "–")) else "+" + cell


def format_report(command: str, config: dict, seeds: list[int], baseline: Optional[dict], records: dict, failures: dict,
                  figure: Optional[str] = None, settings: Optional[dict] = None) -> str:
    """RESULTS.md: the header, one row per objective (mean ± std over seeds), the figure's link if any.

    ``settings``: the per-objective overrides (:func:`load_settings`) that applied to these runs.
    """
    tasks = config["tasks"]
    scored = (f"the weights with the best STS-B dev Spearman (checked every {config['val_every']} steps)"
              if config.get("val_every") else "the final weights")
    overrides = [
        f"{DISPLAY.get(name, name)}: " + ", ".join(f"{key.replace('_', ' ')} {value:g}" for key, value in values.items())
        for name, values in (settings or {}).items() if name in records and values
    ]
    heads = [TASK_COLUMNS.get(t, t) for t in tasks] + ["avg"]
    lines = [
        f"# Objectives at equal budget: {config['backbone']}, {config['budget']} steps",
        "",
        f"- command: `{command}`",
        f"- backbone {config['backbone']} (pooler {config['pooler']}), budget {config['budget']} optimizer steps, "
        f"batch {config['batch_size']}, lr {config['lr']:g}, max length {config['max_length']}, "
        f"corpus {', '.join(config['train_files'])}, precision {config['precision']}"
        + (", embedding layer frozen" if config.get("freeze_embeddings") else ""),
        *([f"- per-objective settings (they replace the line above): {'; '.join(overrides)}"] if overrides else []),
        f"- seeds: {', '.join(map(str, seeds))}; scores: Spearman ×100 of {scored} on the test splits "
        "(STS12–16 'all'), mean ± std over seeds; Δavg: avg minus the untrained backbone's avg; GD, w_hardest (weight share of the hardest negative) and R: "
        f"means of GradientComponentMonitor's grad/* over the run (every {min(config['log_every'], config['budget'])} steps; "
        "– where the loss has no such component)",
        f"- machine: {machine()}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
    ]
    if config["backbone"] == "minilm":
        lines.append(
            "- all-MiniLM-L6-v2 is already a sentence-tuned model: these runs are *continued training* of it, not the "
            "paper's setting (BERT-base trained from its MLM weights); compare each row with the baseline row"
        )
    base_avg = baseline["scores"].get("avg") if baseline is not None else None
    lines += ["", "| objective | " + " | ".join(heads) + " | Δavg | GD | w_hardest | R | runs |",
              "|---|" + "---:|" * (len(heads) + 5)]
    if baseline is not None:
        cells = [_cell([baseline["scores"].get(t)], 100) for t in [*tasks, "avg"]]
        lines.append("| untrained backbone | " + " | ".join(cells) + " | – | – | – | – | – |")
    for objective, runs in records.items():
        if not runs:
            continue
        cells = [_cell([r["scores"].get(t) for r in runs], 100) for t in [*tasks, "avg"]]
        gains = [r["scores"]["avg"] - base_avg for r in runs if base_avg is not None and r["scores"].get("avg") is not None]
        cells.append(_signed(_cell(gains, 100)))
        comps = [_cell([r["monitor"].get(k) for r in runs], 1, 3) for k in ("gd_mean", "w_hardest", "ratio_mean")]
        lines.append(f"| {DISPLAY.get(objective, objective)} | " + " | ".join(cells + comps) + f" | {len(runs)} |")
    if figure is not None:
        lines += ["", f"![change of the STS scores against the untrained backbone, per objective]({figure})"]
    if failures:
        lines += ["", "Failed runs (rerun the command to retry them):", ""]
        lines += [f"- {objective} seed {seed}: {message}" for (objective, seed), message in failures.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- main
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

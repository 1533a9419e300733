"""The command line: ``python -m lit_srl <command> …``.

Training commands (``fit``, ``validate``, ``test``) are LightningCLI's, driven by composable YAML
files (``--config recipe.yaml --config configs/loss/arccon.yaml``). The others are lit_srl's own:
``data download``, ``eval``, ``export``. Errors caused by the user's input print one line,
``error: …``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from lit_srl.errors import LitSrlError

#: lit_srl's own commands: name → (module, function taking the remaining argv, summary).
TOOL_COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("lit_srl.data.download", "main", "fetch the SentEval STS suite and the wiki1m corpus (data download)"),
    "eval": ("lit_srl.evaluation.command", "main", "STS12-16, STS-B, SICK-R with the SentEval protocol"),
    "export": ("lit_srl.evaluation.export", "main", "write a checkpoint as a Hugging Face / sentence-transformers folder"),
    "simulate": ("lit_srl.analysis.simulate", "main", "the gradient simulations of the ACL 2024 paper (GD, W, R figures)"),
    "figures": ("lit_srl.analysis.figures", "main", "PNG figures from a run's TensorBoard logs"),
    "experiment": ("lit_srl.experiment", "main", "every objective for one budget, 7-task STS table (RESULTS.md)"),
}
LIGHTNING_COMMANDS = {
    "fit": "train from a YAML recipe (python -m lit_srl fit --config configs/quickstart.yaml)",
    "validate": "STS-B dev of a model or checkpoint",
    "test": "the 7-task STS suite of a model or checkpoint",
}

TRAINER_DEFAULTS = {
    "max_epochs": 1,
    "check_val_every_n_epoch": None,  # validation every val_check_interval optimizer steps
    "val_check_interval": 125,
    "num_sanity_val_steps": 0,
    "log_every_n_steps": 10,
    "default_root_dir": "runs",
}


def usage() -> str:
    lines = ["usage: python -m lit_srl <command> [options]   (<command> --help for its options)", "", "commands:"]
    for name, summary in LIGHTNING_COMMANDS.items():
        lines.append(f"  {name:<10} {summary}")
    for name, (_, _, summary) in TOOL_COMMANDS.items():
        lines.append(f"  {name:<10} {summary}")
    return "\n".join(lines)


def _quiet_known_warnings() -> None:
    import warnings

    # The streamed corpus knows its exact per-rank length (it shards by rank and worker itself).
    warnings.filterwarnings("ignore", message=r".*IterableDataset. has .__len__. defined.*")
    # Validation and test run on the CPU-side tokenised shards; one worker is enough.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _setup_logging() -> None:
    logger = logging.getLogger("lit_srl")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def lightning_cli(args: Optional[Sequence[str]] = None, run: bool = True):
    """Build (and by default run) the LightningCLI of lit_srl on ``args``."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI

    from lit_srl.callbacks import LastCheckpoint, SentencesPerSecond
    from lit_srl.data.datamodule import SentenceDataModule
    from lit_srl.model import SentenceEmbeddingModule

    class LitSrlCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            # Every recipe keeps the best checkpoint by STS-B dev Spearman, and last.ckpt to resume
            # (written after every evaluation and on SIGTERM/SIGUSR1).
            parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
            parser.set_defaults(
                {
                    "checkpoint.monitor": "val/stsb_spearman",
                    "checkpoint.mode": "max",
                    "checkpoint.save_top_k": 1,
                    "checkpoint.save_last": False,  # last.ckpt is LastCheckpoint's (every evaluation)
                    "checkpoint.filename": "best-step{step}",
                    "checkpoint.auto_insert_metric_name": False,
                }
            )
            parser.add_lightning_class_args(SentencesPerSecond, "throughput")
            parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")

        def before_instantiate_classes(self) -> None:
            if self.subcommand == "fit":
                resolve_resume(self.config[self.subcommand])

        def after_instantiate_classes(self) -> None:
            if self.subcommand is None:
                return
            # The whole resolved config travels in every checkpoint (run_config_args reads it).
            import yaml

            dump = yaml.safe_load(self.parser.dump(self.config, skip_none=False, skip_link_targets=False))
            config = dump.get(self.subcommand, dump)
            for key in ("config", "ckpt_path"):
                config.pop(key, None)
            self.model.run_config = yaml.safe_dump(config, sort_keys=False)

    return LitSrlCLI(
        SentenceEmbeddingModule,
        SentenceDataModule,
        args=args,
        run=run,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False, "exit_on_error": False},
    )


def find_last_checkpoint(root) -> Path:
    """The newest ``last.ckpt`` of a run folder (``lightning_logs/version_*/checkpoints/``)."""
    root = Path(root)
    found = sorted(root.glob("lightning_logs/version_*/checkpoints/last*.ckpt")) + sorted(
        root.glob("checkpoints/last*.ckpt")
    )
    if not found:
        raise LitSrlError(
            f"--ckpt_path last: no last.ckpt under {root}; give --trainer.default_root_dir of the run to "
            "resume, or a checkpoint path"
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def _option(argv: Sequence[str], name: str) -> Optional[str]:
    """The value of ``--name=value`` or ``--name value`` in argv (the last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def run_config_args(argv: list[str]) -> list[str]:
    """``fit --ckpt_path CKPT`` without ``--config``: resume with the config stored in CKPT.

    Every checkpoint carries the run's resolved config (model, data, trainer, callbacks), so a
    checkpoint alone resumes a run; options given on the command line still override it.
    """
    import tempfile

    import torch

    if not argv or argv[0] != "fit" or _option(argv, "--config") or _option(argv, "-c"):
        return argv
    ckpt = _option(argv, "--ckpt_path")
    if ckpt is None:
        return argv
    if ckpt == "last":
        ckpt = str(find_last_checkpoint(_option(argv, "--trainer.default_root_dir") or "."))
    try:
        stored = torch.load(ckpt, map_location="cpu", weights_only=True).get("lit_srl_run_config")
    except Exception:
        return argv  # Lightning reports unreadable checkpoints itself
    if not stored:
        return argv
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="lit_srl_resume_", delete=False) as f:
        f.write(stored)
    logging.getLogger("lit_srl").info("resuming with the config stored in %s", ckpt)
    return ["fit", "--config", f.name, *argv[1:]]


def resolve_resume(config) -> None:
    """``--ckpt_path last``: the newest ``last.ckpt`` of the run folder, logging into its version.

    Lightning looks for ``last`` only in the new run's own (new) version folder; here the run folder
    is ``trainer.default_root_dir``: its ``lightning_logs/version_*/checkpoints/last.ckpt`` (or
    ``checkpoints/last.ckpt``), and the resumed run keeps logging into the same version, so its
    TensorBoard curves continue and its checkpoints replace that run's own.
    """
    if config.get("ckpt_path") != "last":
        return
    newest = find_last_checkpoint(config.trainer.default_root_dir or ".")
    config.ckpt_path = str(newest)
    version_dir = newest.parent.parent
    if version_dir.name.startswith("version_") and config.trainer.get("logger") in (None, True):
        from jsonargparse import Namespace

        config.trainer.logger = Namespace(
            class_path="lightning.pytorch.loggers.TensorBoardLogger",
            init_args=Namespace(save_dir=str(version_dir.parent.parent), version=version_dir.name),
        )
    logging.getLogger("lit_srl").info("resuming from %s", newest)


def loss_class_names() -> list[str]:
    """The importable loss classes, as ``class_path`` values (``lit_srl.losses.InfoNCE``, …)."""
    import lit_srl.losses as losses

    bases = (losses.SentenceLoss, losses.ContrastiveLoss, losses.NonContrastiveLoss, losses.SecondMomentLoss)
    return sorted(
        f"lit_srl.losses.{name}"
        for name, obj in vars(losses).items()
        if isinstance(obj, type) and issubclass(obj, losses.SentenceLoss) and obj not in bases
    )


def config_error_line(exc: Exception) -> str:
    """One line for a config/argument error of jsonargparse (its messages span many lines)."""
    import re

    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    given = re.search(r"Given value: (.+)", text)
    if "model.loss" in text or ("class_path" in text and "loss" in text.lower()):
        value = given.group(1) if given else "?"
        return (
            f"unknown loss {value!r} for model.loss; valid class_path values: {', '.join(loss_class_names())} "
            "(or compose a preset: --config configs/loss/<name>.yaml)"
        )
    key = re.search(r'[Kk]ey "([^"]+)"', text)
    head = lines[0] if lines else type(exc).__name__
    detail = next((line for line in lines[1:] if "Problem" in line or "Expected" in line or "not" in line), "")
    where = f" ({key.group(1)})" if key and key.group(1) not in head else ""
    return f"{head}{where}{'; ' + detail if detail else ''}; see python -m lit_srl <command> --help"


def _tool(name: str) -> Callable[[list[str]], int]:
    module, func, _ = TOOL_COMMANDS[name]
    return getattr(importlib.import_module(module), func)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lit_srl`` and the ``lit-srl`` script."""
    from_sys = argv is None
    argv = list(sys.argv[1:] if from_sys else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _setup_logging()
    _quiet_known_warnings()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command in TOOL_COMMANDS:
            return int(_tool(command)(rest) or 0)
        if command in LIGHTNING_COMMANDS or command.startswith("-"):
            resumed = run_config_args(argv)
            if from_sys and resumed is not argv:
                sys.argv[1:] = resumed  # DDP relaunches the other ranks from sys.argv
            # LightningCLI reads sys.argv itself (and warns if given both).
            lightning_cli(None if from_sys else resumed)
            return 0
        raise LitSrlError(f"unknown command {command!r}; valid commands: {', '.join([*LIGHTNING_COMMANDS, *TOOL_COMMANDS])}")
    except LitSrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except argparse.ArgumentError as exc:
        print(f"error: {config_error_line(exc)}", file=sys.stderr)
        return 2

"""The command line: ``python -m lit_srl <command> …``.

Training commands (``fit``, ``validate``, ``test``) are LightningCLI's, driven by composable YAML
files (``--config recipe.yaml --config configs/loss/arccon.yaml``). The others are lit_srl's own:
``data download``, ``eval``, ``export``. Errors caused by the user's input print one line,
``error: …``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from lit_srl.errors import LitSrlError
from lit_srl.startup import imports_without_gc

#: lit_srl's own commands: name → (module, function taking the remaining argv, summary).
TOOL_COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("lit_srl.data.download", "main", "fetch the SentEval STS suite and the wiki1m corpus (data download; --only transfer: the transfer tasks)"),
    "eval": ("lit_srl.evaluation.command", "main", "STS12-16, STS-B, SICK-R and the transfer tasks (MR … MRPC) with SimCSE's SentEval protocol"),
    "export": ("lit_srl.evaluation.export", "main", "write a checkpoint as a Hugging Face / sentence-transformers folder"),
    "simulate": ("lit_srl.analysis.simulate", "main", "the gradient simulations of the ACL 2024 paper (GD, W, R figures)"),
    "figures": ("lit_srl.analysis.figures", "main", "PNG figures from a run's TensorBoard logs"),
    "sweep": ("lit_srl.sweep.command", "main", "experiments as sweeps of fit runs: plan, run, slurm, report"),
}
LIGHTNING_COMMANDS = {
    "fit": "train from a YAML recipe (python -m lit_srl fit --config configs/quickstart.yaml)",
    "validate": "STS-B dev of a model or checkpoint",
    "test": "the 7-task STS suite of a model or checkpoint",
}

#: The modules a fit, validate or test process imports first: torch, transformers and Lightning
#: underneath, most of its start (:mod:`lit_srl.startup`).
LIGHTNING_COMMAND_IMPORTS = ("lightning.pytorch.cli", "lit_srl.model", "lit_srl.datamodule", "lit_srl.callbacks")

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


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each message, not to the stream it was when the handler
    was made (which a caller of :func:`main` that swaps ``sys.stderr``, such as pytest's capture,
    may have closed since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _setup_logging() -> None:
    logger = logging.getLogger("lit_srl")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def cli_class():
    """lit_srl's LightningCLI subclass (built lazily: importing Lightning takes seconds)."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI

    from lit_srl import metric_names
    from lit_srl.callbacks import LastCheckpoint, SentencesPerSecond

    class LitSrlCLI(LightningCLI):
        #: the command line of this run (``fit --config …``), recorded in result.json
        argv: list[str] = []
        #: ``fit --result``: this process's lock of the run folder (lit_srl.run_lock), held to the end
        run_lock = None

        def add_arguments_to_parser(self, parser) -> None:
            parser.add_argument(
                "--result", type=Optional[str], default=None,
                help="after fit: test the best-on-dev checkpoint on data.test_tasks and write this result.json",
            )
            # Every recipe keeps the best checkpoint by STS-B dev Spearman, and last.ckpt to resume
            # (written after every evaluation and on SIGTERM/SIGUSR1).
            parser.add_argument(
                "--transfer", type=Optional[str], default=None,
                help="test, and fit --result: also score SentEval's transfer tasks (transfer, or names: MR,TREC)",
            )
            parser.add_argument("--transfer_mode", type=str, default="full", help="transfer classifier settings: full | fast")
            parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
            parser.set_defaults(
                {
                    "checkpoint.monitor": metric_names.VAL_STSB,
                    "checkpoint.mode": "max",
                    "checkpoint.save_top_k": 1,
                    "checkpoint.save_last": False,  # last.ckpt is LastCheckpoint's (every evaluation)
                    "checkpoint.filename": "best-step{step}",
                    "checkpoint.auto_insert_metric_name": False,
                }
            )
            parser.add_lightning_class_args(SentencesPerSecond, "throughput")
            parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")

        def resolved_config(self) -> dict:
            """This command's resolved config as plain data (without ``config`` and ``ckpt_path``)."""
            import yaml

            dump = yaml.safe_load(dump_all(self.parser, self.config))
            config = dump.get(self.subcommand, dump)
            for key in ("config", "ckpt_path"):
                config.pop(key, None)
            return config

        def before_instantiate_classes(self) -> None:
            if self.subcommand is None:  # run=False: no command to prepare
                return
            command = self.config[self.subcommand]
            if self.subcommand == "fit":
                if command.get("result"):  # a run of a sweep: one fit at a time in its folder
                    from lit_srl.run_lock import hold_run_folder

                    type(self).run_lock = hold_run_folder(Path(command.trainer.default_root_dir or "."))
                self.requested_config = self.resolved_config()  # as asked, before resuming sets a logger
                resolve_resume(command)
            if command.data.get("tokenizer") is None:
                command.data.tokenizer = command.model.backbone  # the datamodule cuts text as the model reads it
            if command.get("weights_only") is None:
                # Lightning's own load passes None, which TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 turns
                # into a full unpickling: a checkpoint from someone else could run code.
                command.weights_only = True

        def after_instantiate_classes(self) -> None:
            if self.subcommand is None:
                return
            # The whole resolved config travels in every checkpoint (run_config_args reads it).
            import yaml

            self.model.run_config = yaml.safe_dump(self.resolved_config(), sort_keys=False)
            from lightning.pytorch.loggers import TensorBoardLogger

            for logger in self.trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    # The HPARAMS dashboard gets the run's real scores at the end (--result), not
                    # Lightning's placeholder hp_metric = -1.
                    logger._default_hp_metric = False
            if self.subcommand == "fit" and self.config["fit"].get("result"):
                from lit_srl.sweep.end_of_fit import EndOfFitClock

                self.trainer.callbacks.append(EndOfFitClock())

        def _instantiate_trainer(self, config: dict, callbacks: list):
            # every checkpoint is written atomically in its own folder (lit_srl.checkpoint_io)
            from lit_srl.checkpoint_io import with_atomic_checkpoints

            config["plugins"] = with_atomic_checkpoints(config.get("plugins"), config.get("strategy"))
            return super()._instantiate_trainer(config, callbacks)

        def _parse_ckpt_path(self) -> None:
            """``fit``: the options on the command line win over the checkpoint, however it is named.

            Lightning applies a ``--ckpt_path`` file's hyperparameters over the whole parsed config,
            the command line's options included — but not for ``last``, ``auto`` or ``hpc``, which it
            resolves later. A fit's config is its command line (with the checkpoint's stored config
            underneath when no ``--config`` is given, see :func:`run_config_args`), so the
            checkpoint's hyperparameters are not applied again. ``validate``/``test`` keep
            Lightning's behaviour: the model is the checkpoint's.
            """
            if self.config.get("subcommand") != "fit":
                super()._parse_ckpt_path()

        def before_fit(self) -> None:
            self.fit_started = time.perf_counter()

        def after_fit(self) -> None:
            result = self.config["fit"].get("result")
            if result and not self.trainer.interrupted:
                from lit_srl.sweep.end_of_fit import EndOfFitClock
                from lit_srl.sweep.record import finish_run

                fit_seconds = time.perf_counter() - self.fit_started
                clock = next(cb for cb in self.trainer.callbacks if isinstance(cb, EndOfFitClock))
                finish_run(self.trainer, self.model, self.datamodule, result, self.requested_config, self.argv,
                           fit_seconds, self.config["fit"].get("transfer"), self.config["fit"].get("transfer_mode"),
                           end_of_fit_seconds=clock.seconds())

        def after_test(self) -> None:
            tasks = self.config["test"].get("transfer")
            if tasks and self.trainer.is_global_zero:
                from lit_srl.sweep.record import transfer_column

                column = transfer_column(self.model.encoder, self.datamodule.data_dir, tasks, self.config["test"].get("transfer_mode"))
                print(f"transfer ({self.config['test'].get('transfer_mode')} mode), test accuracy ×100: "
                      + ", ".join(f"{name} {value:.2f}" for name, value in column.items()))

    return LitSrlCLI


class _ResolveOnly:
    """Parse and resolve a command line without building model, data or trainer."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass

    def after_instantiate_classes(self) -> None:
        pass

    def _run_subcommand(self, subcommand: str) -> None:
        pass

    def _set_seed(self) -> None:
        pass


_RESOLVER = None


def dump_all(parser, config) -> str:
    """The YAML of ``config`` with every key, None values and link targets included.

    jsonargparse 4.49 renamed ``dump``'s ``skip_none`` to ``skip_unset`` (the old name warns);
    ``jsonargparse>=4.27`` is supported, so the name follows the installed version (``dump`` is
    wrapped by a decorator that hides its signature).
    """
    import jsonargparse

    version = tuple(int(part) for part in jsonargparse.__version__.split(".")[:2] if part.isdigit())
    keep_none = "skip_unset" if version >= (4, 49) else "skip_none"
    return parser.dump(config, skip_link_targets=False, **{keep_none: False})


def resolve_fit_config(args: Sequence[str]) -> dict:
    """The resolved config of ``fit ARGS`` (files composed, overrides applied) as plain data.

    Nothing is instantiated; a key the CLI does not know or a bad value raises jsonargparse's
    ``ArgumentError``. The parser is built once and reused (it takes seconds).
    """
    import yaml

    global _RESOLVER
    argv = ["fit", *args]
    if _RESOLVER is None:
        import warnings

        resolver = type("ResolveOnlyCLI", (_ResolveOnly, cli_class()), {})
        with warnings.catch_warnings():  # "args and sys.argv both given": args is the point here
            warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
            _RESOLVER = _make_cli(resolver, argv, run=True)
        config = _RESOLVER.config
    else:
        config = _RESOLVER.parser.parse_args(argv)
    dump = yaml.safe_load(dump_all(_RESOLVER.parser, config))["fit"]
    for key in ("config", "ckpt_path", "result"):
        dump.pop(key, None)
    return dump


def _make_cli(cls, args, run: bool):
    from lit_srl.datamodule import SentenceDataModule
    from lit_srl.model import SentenceEmbeddingModule

    return cls(
        SentenceEmbeddingModule,
        SentenceDataModule,
        args=args,
        run=run,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False, "exit_on_error": False},
    )


def lightning_cli(args: Optional[Sequence[str]] = None, run: bool = True):
    """Build (and by default run) the LightningCLI of lit_srl on ``args``."""
    cls = cli_class()
    cls.argv = list(sys.argv[1:] if args is None else args)
    try:
        return _make_cli(cls, args, run)
    finally:
        if cls.run_lock is not None:
            cls.run_lock.release()


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


def stored_run_config(argv: list[str]) -> tuple[Optional[str], Optional[str]]:
    """(the config stored in the checkpoint of ``fit --ckpt_path CKPT`` without ``--config``, CKPT);
    (None, None) where the command gives a config, names no checkpoint file yet (``auto``, ``best``…:
    resolved later by resolve_resume and Lightning) or the checkpoint stores none."""
    if not argv or argv[0] != "fit" or _option(argv, "--config") or _option(argv, "-c"):
        return None, None
    ckpt = _option(argv, "--ckpt_path")
    if ckpt is None:
        return None, None
    if ckpt == "last":
        ckpt = str(find_last_checkpoint(_option(argv, "--trainer.default_root_dir") or "."))
    elif ckpt in ("auto", "best", "hpc", "registry") and not Path(ckpt).exists():
        return None, None
    from lit_srl.checkpoint import check_record, load_weights_only

    # weights_only: nothing pickled in the file runs; missing/corrupt/refused → one-line LitSrlError
    loaded = load_weights_only(ckpt, map_location="cpu", mmap=None)
    check_record(loaded, ckpt)
    stored = loaded.get("lit_srl_run_config") if isinstance(loaded, dict) else None
    return (stored, ckpt) if stored else (None, None)


@contextlib.contextmanager
def run_config_args(argv: list[str]) -> Iterator[list[str]]:
    """``fit --ckpt_path CKPT`` without ``--config``: resume with the config stored in CKPT.

    Every checkpoint carries the run's resolved config (model, data, trainer, callbacks), so a
    checkpoint alone resumes a run; options given on the command line still override it. Yields
    ``argv`` itself, or ``fit --config STORED.yaml …`` with the stored config in a temporary file
    that lives as long as the context (the other DDP ranks, relaunched from ``sys.argv``, read it
    while rank 0 runs); it is deleted when the context exits.
    """
    import tempfile

    stored, ckpt = stored_run_config(argv)
    if stored is None:
        yield argv
        return
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="lit_srl_resume_", delete=False) as f:
        f.write(stored)
    logging.getLogger("lit_srl").info("resuming with the config stored in %s", ckpt)
    try:
        yield ["fit", "--config", f.name, *argv[1:]]
    finally:
        Path(f.name).unlink(missing_ok=True)


#: Checkpoint names a run folder may resume from, in order of preference within one folder.
RESUMABLE_PATTERNS = ("lightning_logs/version_*/checkpoints/last*.ckpt", "checkpoints/last*.ckpt", "hpc_ckpt_*.ckpt",
                      "lightning_logs/version_*/checkpoints/best-*.ckpt")


def newest_resumable_checkpoint(root) -> Optional[Path]:
    """The newest checkpoint under the run folder ``root`` that a run can resume from, if any.

    ``last.ckpt`` first (newest first), then SLURM's ``hpc_ckpt_N.ckpt``, then the best-on-dev
    checkpoints (full training checkpoints too, only older). An unreadable one — truncated by a
    crash while it was written, corrupt, or refused by the weights-only loader — is skipped with
    a warning naming it; it is left in place.
    """
    from lit_srl.checkpoint import check_resumable

    root = Path(root)
    groups = [sorted(root.glob(p), key=lambda f: f.stat().st_mtime, reverse=True) for p in RESUMABLE_PATTERNS]
    candidates = [path for group in groups for path in group]
    for path in candidates:
        try:
            check_resumable(path)
        except LitSrlError as exc:
            logging.getLogger("lit_srl").warning("warning: %s; trying an older checkpoint", exc)
            continue
        return path
    if candidates:
        logging.getLogger("lit_srl").warning(
            "warning: no readable checkpoint under %s (%d unreadable); the run starts afresh", root, len(candidates)
        )
    return None


def resolve_resume(config) -> None:
    """``--ckpt_path last`` / ``auto``: the run folder's checkpoint, logging into its version.

    Lightning looks for ``last`` only in the new run's own (new) version folder; here the run folder
    is ``trainer.default_root_dir``: its ``lightning_logs/version_*/checkpoints/last.ckpt`` (or
    ``checkpoints/last.ckpt``), and the resumed run keeps logging into the same version, so its
    TensorBoard curves continue and its checkpoints replace that run's own.

    ``auto`` resumes from :func:`newest_resumable_checkpoint` if there is one and starts afresh
    otherwise, so one command serves the first start, a rerun after a crash and a requeued SLURM
    job. A requeued SLURM job (``SLURM_RESTART_COUNT`` > 0) without ``--ckpt_path`` means ``auto``.
    """
    from lit_srl.checkpoint import check_resumable

    ckpt = config.get("ckpt_path")
    if ckpt is None and int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0:
        ckpt = "auto"
    if ckpt not in ("last", "auto"):
        return
    root = config.trainer.default_root_dir or "."
    if ckpt == "last":
        newest = find_last_checkpoint(root)
        check_resumable(newest)
    else:
        newest = newest_resumable_checkpoint(root)
        if newest is None:
            config.ckpt_path = None
            return
    config.ckpt_path = str(newest)
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from lit_srl.atomic import remove_leftovers

    for leftover in remove_leftovers(newest.parent) if rank_zero_only.rank == 0 else ():  # rank 0 writes there
        logging.getLogger("lit_srl").info("removed %s, left by an interrupted checkpoint write", leftover)
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
            with imports_without_gc(from_sys):
                tool = _tool(command)
            return int(tool(rest) or 0)
        if command in LIGHTNING_COMMANDS or command.startswith("-"):
            with imports_without_gc(from_sys):
                for module in LIGHTNING_COMMAND_IMPORTS:
                    importlib.import_module(module)
            with run_config_args(argv) as resumed:
                if from_sys and resumed is not argv:
                    sys.argv[1:] = resumed  # DDP relaunches the other ranks from sys.argv
                # LightningCLI reads sys.argv itself (and warns if given both).
                lightning_cli(None if from_sys else resumed)
            return 0
        raise LitSrlError(f"unknown command {command!r}; valid commands: {', '.join([*LIGHTNING_COMMANDS, *TOOL_COMMANDS])}")
    except LitSrlError as exc:
        from lit_srl.run_lock import BUSY_EXIT, FolderBusy

        print(f"error: {exc}", file=sys.stderr)
        return BUSY_EXIT if isinstance(exc, FolderBusy) else 2
    except argparse.ArgumentError as exc:
        print(f"error: {config_error_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Lightning reading --ckpt_path: torch's weights-only refusal, a truncated or corrupt file.
        from lit_srl.atomic import disk_full_line
        from lit_srl.checkpoint import lightning_load_error

        lightning = command in LIGHTNING_COMMANDS or command.startswith("-")
        line = (lightning_load_error(exc, _option(argv, "--ckpt_path")) if lightning else None) or disk_full_line(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2

"""Helpers shared by the tests: the repository and data root, running the CLI in-process, reading
TensorBoard event files."""

from __future__ import annotations

import os
from pathlib import Path

from lit_srl.cli import main

REPO = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """``$LIT_SRL_DATA`` (CI: ../shared/data), else ../shared/data beside the checkout."""
    env = os.environ.get("LIT_SRL_DATA")
    return Path(env).resolve() if env else (REPO.parent / "shared" / "data").resolve()


def fit_args(
    root: Path, backbone: str, *extra: str, steps: int = 6, val_every: int = 3, batch: int = 8, configs=()
) -> list[str]:
    """``fit`` on the quickstart recipe (plus ``configs`` presets), shrunk to a few small steps."""
    presets = [arg for name in configs for arg in ("--config", str(REPO / "configs" / name))]
    return [
        "fit",
        "--config", str(REPO / "configs" / "quickstart.yaml"),
        *presets,
        f"--trainer.default_root_dir={root}",
        f"--trainer.max_steps={steps}",
        f"--trainer.val_check_interval={val_every}",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        f"--model.backbone={backbone}",
        f"--data.batch_size={batch}",
        "--data.num_workers=0",
        *extra,
    ]


def run_cli(args: list[str]) -> int:
    return main(args)


def read_scalars(root: Path) -> dict[str, list[tuple[int, float]]]:
    """All scalars of every TensorBoard event file under ``root``: tag → [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, list[tuple[int, float]]] = {}
    for event_file in sorted(root.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(event_file), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return scalars


def print_config(*files: str, overrides: tuple[str, ...] = ()) -> dict:
    """``fit --config F1 --config F2 … [overrides] --print_config``, parsed (paths relative to the
    repository)."""
    import contextlib
    import io

    import yaml

    args = ["fit", *(a for f in files for a in ("--config", str(REPO / f))), *overrides, "--print_config"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code in (0, None), f"--print_config of {files} exited with {exc.code}"
    return yaml.safe_load(out.getvalue())

"""Helpers shared by the tests: running the CLI in-process and reading TensorBoard event files."""

from __future__ import annotations

from pathlib import Path

from lit_srl.cli import main

REPO = Path(__file__).resolve().parents[1]


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

"""Result records: atomic JSON files, the machine they ran on, and whether one belongs to a config."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Optional, Sequence

import lit_srl
from lit_srl.errors import LitSrlError


#: Config entries that must match for an existing result JSON to count as this run's.
RUN_KEYS = (
    "backbone", "pooler", "budget", "batch_size", "lr", "max_length", "train_files", "tasks", "loss", "val_every",
    "freeze_embeddings",
)


#: Values of config entries added after the first result JSONs were written (older JSONs ran with these).
KEY_DEFAULTS = {"val_every": None, "freeze_embeddings": False}


BASELINE_KEYS = ("backbone", "pooler", "tasks")


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

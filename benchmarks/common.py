"""Machine and library facts shared by the benchmarks (report headers, one-line summaries).

Used by ``run_all.py`` for the header of BENCHMARKS.md and by ``bench_train.py`` /
``bench_data.py`` for their own one-line machine summary. Reads /proc only; nothing here needs
a GPU, and the GPU is named when torch sees one.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: the distributions whose versions a report names
LIBRARIES = ("torch", "lightning", "transformers", "tokenizers", "sentence-transformers", "accelerate", "datasets",
             "numpy", "lit_srl")


def build_random_bert(folder: Path, seed: int = 0, **config) -> Path:
    """Save a randomly initialised BERT (``BertConfig(**config)``; no pooler) with all-MiniLM-L6-v2's
    tokenizer (bert-base-uncased's vocabulary) into ``folder``: no download. ``config`` empty:
    BERT-base size."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from lit_srl.backbones import minilm_path

    torch.manual_seed(seed)
    BertModel(BertConfig(**config), add_pooling_layer=False).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return Path(folder)


def cpu_model() -> str:
    """The CPU's model name (lit_srl's own reading, as result.json records it)."""
    from lit_srl.sweep.record import cpu_name

    return cpu_name()


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ram_gib() -> float:
    """Total memory in GiB (MemTotal of /proc/meminfo); NaN where unreadable."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def gpu_name() -> str | None:
    """``torch.cuda.get_device_name()`` when a CUDA device is visible, else None."""
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def load_average() -> str:
    """The 1/5/15-minute load averages, e.g. ``2.9 / 4.1 / 4.0``."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def versions() -> dict[str, str]:
    """Versions of python and of the distributions in :data:`LIBRARIES` (``absent`` if not
    installed), read from their installed metadata: importing them all to read ``__version__``
    took 16 s on the 2-core VM, and a report's header does not need them loaded."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def git_commit() -> str:
    """The checkout's short commit (with ``+dirty`` for local changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def machine_line() -> str:
    """One line: CPU, cores, RAM, GPU, torch threads and the current load."""
    import torch

    gpu = gpu_name()
    return (
        f"{cpu_model()}, {usable_cores()} usable cores (of {os.cpu_count()}), {ram_gib():.0f} GiB RAM, "
        f"{'GPU ' + gpu if gpu else 'no GPU'}; torch threads {torch.get_num_threads()}; "
        f"load average {load_average()}"
    )


def header_lines(command: str) -> list[str]:
    """Markdown bullet lines for a report header: date, command, machine, versions, commit."""
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    return [
        f"- date: {now_utc()}",
        f"- command: `{command}`",
        f"- machine: {machine_line()}",
        f"- versions: {vers}",
        f"- lit_srl commit: {git_commit()}",
    ]

"""Machine and library facts shared by the benchmarks (report headers, one-line summaries).

Used by ``run_all.py`` for the header of BENCHMARKS.md and by ``bench_train.py`` /
``bench_data.py`` for their own one-line machine summary. Reads /proc only; nothing here needs
a GPU, and the GPU is named when torch sees one.
"""

from __future__ import annotations

import ast
import datetime
import importlib.metadata
import importlib.util
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
    """Versions of python and of the distributions in :data:`LIBRARIES`, none of them imported:
    importing them all to read ``__version__`` took 16 s on the 2-core VM, and a report's header
    does not need them loaded."""
    return {"python": platform.python_version(), **{name: installed_version(name) for name in LIBRARIES}}


def installed_version(name: str) -> str:
    """The version of distribution ``name`` as its ``__version__`` would say, without importing it.

    In order: the ``__version__`` of the package's ``version.py`` (torch's names the build,
    ``2.11.0+cu130`` or ``2.13.0+cpu``, where the metadata of a PyPI wheel says ``2.11.0``); the
    installed metadata; the ``__version__`` of its ``__init__.py`` (a package run from its source
    tree, not installed: lit_srl on the GPU test machine); else ``absent``.
    """
    spec = importlib.util.find_spec(name.replace("-", "_"))  # a top-level name: found, not imported
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    if folder is not None and (build := _assigned_version(folder / "version.py")):
        return build
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    return (folder is not None and _assigned_version(folder / "__init__.py")) or "absent"


def _assigned_version(path: Path) -> str | None:
    """The string literal assigned to ``__version__`` at the top level of ``path`` (None if none)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "__version__" and isinstance(value, ast.Constant) \
                and isinstance(value.value, str):
            return value.value
    return None


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

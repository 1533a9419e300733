"""Where the runs of ``sweep run --jobs K`` execute: each job slot's GPUs and CPU threads.

A run of ``d`` devices needs ``d`` distinct GPUs. The visible GPUs are cut into
``G = len(gpus) // d`` groups of ``d`` consecutive ones; slot ``k`` of ``K`` uses group ``k mod G``.
``--runs-per-gpu N`` lets up to ``N`` slots share a group (a MiniLM run takes a few GiB of an
80-140 GiB card), so ``K ≤ G × N`` must hold — otherwise the sweep is refused with one line before
any run starts (more slots than GPU places would only start runs that fail). Without GPUs the
slots run on the CPU.

CPU threads: with ``K > 1`` each slot's processes get ``OMP_NUM_THREADS = cores // K`` (unless the
user set it), so K runs do not each start one thread per core.

Slot → environment: ``CUDA_VISIBLE_DEVICES`` lists the slot's GPUs (a run of fewer devices than
the slot has uses the first ones). Inside a SLURM job nothing is placed here: SLURM gives each
task its devices (``--gres``).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from lit_srl.errors import LitSrlError


@dataclass(frozen=True)
class Slot:
    """One job slot: the GPU ids it may use (empty: CPU) and its CPU thread count (None: unset)."""

    index: int
    gpus: tuple[str, ...]
    threads: Optional[int]

    def env(self, base: Mapping[str, str], devices: int) -> dict:
        """``base`` with this slot's ``CUDA_VISIBLE_DEVICES`` (first ``devices`` GPUs) and threads."""
        env = dict(base)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpus[:devices])
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env


def visible_gpus(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else nvidia-smi's list."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.stdout.splitlines() if l.startswith("GPU "))]


def place_slots(jobs: int, devices: int, gpus: Sequence[str], runs_per_gpu: int = 1,
                cpus: Optional[int] = None, threads_set: bool = False) -> list[Slot]:
    """The ``jobs`` slots for runs of up to ``devices`` devices each (see the module docstring).

    ``gpus``: the visible GPU ids (empty: CPU only); ``cpus``: cores to split (default: all);
    ``threads_set``: the user set ``OMP_NUM_THREADS`` (it is then left alone).
    """
    if jobs < 1:
        raise LitSrlError(f"--jobs must be at least 1, got {jobs}")
    if runs_per_gpu < 1:
        raise LitSrlError(f"--runs-per-gpu must be at least 1, got {runs_per_gpu}")
    cpus = cpus or os.cpu_count() or 1
    threads = None if jobs == 1 or threads_set else max(1, cpus // jobs)
    if not gpus:
        return [Slot(k, (), threads) for k in range(jobs)]
    groups = [tuple(gpus[g * devices:(g + 1) * devices]) for g in range(len(gpus) // devices)]
    places = len(groups) * runs_per_gpu
    if jobs > places:
        have = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''} visible ({','.join(gpus)})"
        if not groups:
            raise LitSrlError(f"a run needs {devices} GPUs and {have}; make more visible (CUDA_VISIBLE_DEVICES) "
                              "or lower trainer.devices")
        fits = -(-jobs // len(groups))  # runs per GPU needed for all slots at once
        raise LitSrlError(
            f"--jobs {jobs} of {devices} device(s) each needs {jobs * devices} GPU places; {have} × "
            f"--runs-per-gpu {runs_per_gpu} give {places * devices}; pass --runs-per-gpu {fits} to share GPUs, "
            f"or --jobs {places}"
        )
    return [Slot(k, groups[k % len(groups)], threads) for k in range(jobs)]

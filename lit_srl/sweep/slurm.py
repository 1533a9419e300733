"""``sweep slurm``: an sbatch job-array script, one array task per run (plus one for the baselines).

The plan is frozen when the script is written: ``DIR/plan.json`` holds each run's files,
overrides and folder, and ``DIR/runs/<name>/config.yaml`` its resolved config. Each array task
runs ``python -m lit_srl sweep task DIR <name>``, which reads its own entry (nothing is resolved or
rewritten: :func:`lit_srl.sweep.plan.frozen_runs`) and hands it to the same runner as on one
machine, so a task skips a finished run, takes the run's lock, and resumes from the run's
checkpoint (``fit --ckpt_path auto``). The fit itself runs under ``srun`` with one SLURM task per
device (``--ntasks-per-node`` = ``trainer.devices``, ``--nodes`` = ``trainer.num_nodes``), as
Lightning's SLURM environment expects.

Pre-emption: ``--signal=SIGUSR1@90`` makes SLURM signal the fit 90 s before the time limit;
:class:`lit_srl.callbacks.LastCheckpoint` finishes the current step, writes ``last.ckpt`` and
requeues the task (``--requeue``); the requeued task resumes from that checkpoint, replaying the
same batches as an uninterrupted run. ``scontrol requeue`` (SIGTERM) is handled the same way.

Resources per SLURM task (one fit process per device), each overridable with the sbatch option:
``--cpus-per-task`` = ``data.num_workers`` + 1 (the loader workers and the training process),
``--mem`` per node = tasks per node × (:data:`MEM_PER_FIT_GB` + :data:`MEM_PER_WORKER_GB` ×
workers). Other sbatch options are checked against :data:`SBATCH_OPTIONS` before anything is
written.

Several runs on one GPU (``--runs-per-gpu N``) need a cluster that shares GPUs between jobs: SLURM's
``shard`` GRES (``gres.conf`` ``Name=shard``; default) or CUDA MPS (``--gpu-sharing mps``). Each
task then asks for ``--gres=shard:K`` with K = the GPU's shards / N (from ``sinfo``), so N runs fill
one GPU; SLURM gives all of a task's shards on one GPU. Sharding does not fence memory: the N runs
must fit in the GPU's memory together.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from lit_srl.errors import LitSrlError
from lit_srl.sweep.spec import BASELINE

if TYPE_CHECKING:
    from lit_srl.sweep.plan import PlannedRun

SIGNAL_LEAD_SECONDS = 90
#: Host memory of one fit process. Basis: the quickstart fit (MiniLM, one loader worker) peaks at
#: 2.3 GB RSS on a CPU (README, ``/usr/bin/time -v``); a GPU process adds the CUDA context (about
#: 1 GB), and a BERT-base checkpoint save stages weights and AdamW state on the host (1.3 GB).
MEM_PER_FIT_GB = 6
#: Host memory of one DataLoader worker: 235 MiB peak RSS in BENCHMARKS.md's streaming-data table,
#: rounded up to leave room for larger shuffle buffers and batches.
MEM_PER_WORKER_GB = 1

VALUE, FLAG, OPTIONAL = "value", "flag", "optional"
#: sbatch's options (SLURM 22.05 ``sbatch --help`` and man page): long name → takes a value?
SBATCH_OPTIONS = {
    **{name: VALUE for name in (
        "account", "acctg-freq", "array", "batch", "bb", "bbf", "begin", "chdir", "cluster-constraint",
        "clusters", "comment", "constraint", "container", "core-spec", "cores-per-socket", "cpu-freq",
        "cpus-per-gpu", "cpus-per-task", "deadline", "delay-boot", "dependency", "distribution", "error",
        "exclude", "export-file", "extra-node-info", "gid", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node",
        "gpus-per-socket", "gpus-per-task", "gres", "gres-flags", "hint", "input", "job-name", "licenses",
        "mail-type", "mail-user", "mcs-label", "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus",
        "network", "nodefile", "nodelist", "nodes", "ntasks", "ntasks-per-core", "ntasks-per-gpu",
        "ntasks-per-node", "ntasks-per-socket", "open-mode", "output", "partition", "power", "priority",
        "profile", "qos", "reservation", "signal", "sockets-per-node", "switches", "thread-spec",
        "threads-per-core", "time", "time-min", "tmp", "uid", "wckey")},
    **{name: FLAG for name in (
        "contiguous", "hold", "ignore-pbs", "kill-on-invalid-dep", "no-kill", "no-requeue", "overcommit",
        "oversubscribe", "parsable", "quiet", "reboot", "requeue", "spread-job", "test-only", "use-min-nodes",
        "verbose", "wait")},
    **{name: OPTIONAL for name in ("exclusive", "export", "get-user-env", "nice", "propagate", "wrap")},
}
#: sbatch's short options → long names.
SBATCH_SHORT = {"A": "account", "C": "constraint", "G": "gpus", "J": "job-name", "N": "nodes", "c": "cpus-per-task",
                "d": "dependency", "n": "ntasks", "p": "partition", "q": "qos", "t": "time", "w": "nodelist",
                "x": "exclude"}
#: Options the script sets itself and why a user's would break it.
MANAGED = {
    "array": "one array task per run; choose runs with --only, throttle with --max-parallel",
    "nodes": "from trainer.num_nodes of the runs", "ntasks": "from trainer.devices × trainer.num_nodes",
    "ntasks-per-node": "from trainer.devices of the runs",
    "output": "each task writes DIR/slurm/<job>_<task>.out", "error": "each task writes DIR/slurm/<job>_<task>.out",
    "open-mode": "a requeued task appends to its output", "chdir": "the folder sweep slurm runs in",
    "signal": f"SIGUSR1@{SIGNAL_LEAD_SECONDS} makes a task save last.ckpt and requeue before its time limit",
    "requeue": "set: a pre-empted task resumes", "no-requeue": "a pre-empted task must be requeued to resume",
    **{name: "an option of the sbatch command, not of the script: give it to sbatch" for name in
       ("parsable", "quiet", "verbose", "wait", "test-only", "wrap", "batch", "export-file")},
}
#: Options that request GPUs: given one, the script adds no ``--gres=gpu:N`` of its own.
GPU_REQUESTS = ("gres", "gpus", "gpus-per-node", "gpus-per-task", "gpus-per-socket")
MEMORY_REQUESTS = ("mem", "mem-per-cpu", "mem-per-gpu")
SHARING_GRES = ("shard", "mps")


def pass_through_help() -> str:
    """The ``--help`` epilog: the sbatch options ``sweep slurm`` writes into the script."""
    names = sorted(name for name in SBATCH_OPTIONS if name not in MANAGED)
    text = ", ".join(f"--{name}" for name in names)
    return (f"sbatch options written into the script as #SBATCH lines (--name=VALUE or --name VALUE; "
            f"short forms {', '.join(f'-{k}' for k in sorted(SBATCH_SHORT))}): {text}. "
            f"Refused (the script sets them, or they belong on the sbatch command line): {', '.join(f'--{name}' for name in sorted(MANAGED))}.")


def sbatch_options(args: list[str]) -> dict[str, Optional[str]]:
    """The sbatch options of ``sweep slurm``'s command line as {long name: value or None (a flag)}.

    An unknown, repeated or script-managed option is one line, before anything is written.
    """
    options: dict[str, Optional[str]] = {}
    rest = list(args)
    while rest:
        item = rest.pop(0)
        if item.startswith("--"):
            name, inline, value = item[2:].partition("=")
        elif item.startswith("-") and len(item) >= 2 and item[1] in SBATCH_SHORT:
            name, value = SBATCH_SHORT[item[1]], item[2:].lstrip("=")
            inline = "=" if value else ""
        else:
            raise LitSrlError(f"sweep slurm: unknown option {item!r}; see python -m lit_srl sweep slurm --help "
                              "for its own options and the sbatch options it passes on")
        kind = SBATCH_OPTIONS.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, SBATCH_OPTIONS, n=1)
            raise LitSrlError(f"sweep slurm: unknown option --{name}" + (f" (did you mean --{close[0]}?)" if close else "")
                              + "; see python -m lit_srl sweep slurm --help for the sbatch options it passes on")
        if name in MANAGED:
            raise LitSrlError(f"sweep slurm sets --{name} itself ({MANAGED[name]}); leave it out")
        if kind == VALUE and not inline:
            if not rest or rest[0].startswith("-"):
                raise LitSrlError(f"sweep slurm: --{name} needs a value (--{name}=VALUE)")
            value = rest.pop(0)
        elif kind == FLAG and inline:
            raise LitSrlError(f"sweep slurm: --{name} takes no value, got --{name}={value}")
        if name in options:
            raise LitSrlError(f"sweep slurm: --{name} is given twice")
        options[name] = value if inline or kind == VALUE else None
    return options


def _gres_counts(text: str) -> dict[str, int]:
    """``gpu:a100:4(S:0-1),shard:32`` → {gpu: 4, shard: 32} (sinfo's %G of one node group)."""
    counts: dict[str, int] = {}
    for item in re.split(r",(?![^()]*\))", text):
        parts = re.sub(r"\(.*\)$", "", item.strip()).split(":")
        if len(parts) >= 2 and parts[-1].isdigit():
            counts[parts[0]] = counts.get(parts[0], 0) + int(parts[-1])
    return counts


def cluster_gres(partition: Optional[str]) -> list[str]:
    """``sinfo``'s GRES of each node group (of ``partition``); [] when sinfo does not answer."""
    cmd = ["sinfo", "-h", "-o", "%G", *(["-p", partition] if partition else [])]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def sharing_gres(node_gres: list[str], runs_per_gpu: int, kind: str = "shard") -> str:
    """``shard:K`` (or ``mps:K``) so that ``runs_per_gpu`` tasks fill one GPU: K = per-GPU count / N."""
    if kind not in SHARING_GRES:
        raise LitSrlError(f"--gpu-sharing must be one of {', '.join(SHARING_GRES)}, got {kind!r}")
    per_gpu = set()
    for line in node_gres:
        counts = _gres_counts(line)
        if counts.get(kind) and counts.get("gpu"):
            per_gpu.add(counts[kind] // counts["gpu"])
    if not per_gpu:
        raise LitSrlError(
            f"--runs-per-gpu {runs_per_gpu}: no node here shares its GPUs as {kind} GRES (sinfo shows "
            f"{', '.join(node_gres) or 'no GRES'}); SLURM puts several jobs on one GPU only where gres.conf "
            f"has Name={kind}: ask the admins, pick a --partition that has it, or leave --runs-per-gpu out"
        )
    if len(per_gpu) > 1:
        raise LitSrlError(f"--runs-per-gpu {runs_per_gpu}: the nodes here have {sorted(per_gpu)} {kind}s per GPU; "
                          f"pick a --partition whose nodes agree, or give --gres={kind}:K yourself")
    (count,) = per_gpu
    if count % runs_per_gpu:
        raise LitSrlError(f"--runs-per-gpu {runs_per_gpu} does not divide the {count} {kind}s of a GPU here; "
                          f"use a divisor of {count}")
    return f"{kind}:{count // runs_per_gpu}"


def resources(planned: list[PlannedRun], per_node: int) -> dict[str, str]:
    """``cpus-per-task`` and ``mem`` (per node) from the runs' configs (see the module docstring)."""
    workers = max(int((p.config.get("data") or {}).get("num_workers") or 0) for p in planned)
    return {"cpus-per-task": str(workers + 1), "mem": f"{per_node * (MEM_PER_FIT_GB + MEM_PER_WORKER_GB * workers)}G"}


def array_script(planned: list[PlannedRun], output_dir: Path, sweep_name: str, sbatch: dict[str, Optional[str]],
                 names: Optional[list[str]] = None, keep_last: bool = False, max_parallel: Optional[int] = None,
                 gpu_gres: Optional[str] = None) -> str:
    """The sbatch script's text.

    ``sbatch``: the user's options (:func:`sbatch_options`); ``names``: the array's runs in order
    (``baseline`` for the untrained backbones; default all runs and the baseline); ``max_parallel``:
    at most that many tasks at once (``--array=…%K``); ``gpu_gres``: the GPU request of one task
    (``shard:2``; default ``gpu:<devices>`` when the runs use GPUs).
    """
    output_dir = Path(output_dir).resolve()
    devices = {(p.devices(), p.num_nodes()) for p in planned}
    if len(devices) > 1:
        raise LitSrlError(
            f"the runs of {sweep_name} use different device counts {sorted(devices)}; one job array has one "
            "shape: split the sweep or set trainer.devices/num_nodes in its set:"
        )
    (per_node, nodes), = devices
    if names is None:
        names = [p.name for p in planned] + [BASELINE]
    commands = {p.name: p.command() for p in planned}
    accelerator = str((planned[0].config.get("trainer") or {}).get("accelerator") or "auto")
    options = {"job-name": sweep_name, **resources(planned, per_node)}
    if any(name in sbatch for name in MEMORY_REQUESTS):
        options.pop("mem")
    if gpu_gres is None and accelerator in ("gpu", "cuda"):
        gpu_gres = f"gpu:{per_node}"
    if gpu_gres is not None and not any(name in sbatch for name in GPU_REQUESTS):
        options["gres"] = gpu_gres
    options.update(sbatch)
    lines = [
        "#!/bin/bash",
        f"# {sweep_name}: {len(names)} array tasks, written by python -m lit_srl sweep slurm",
        f"#SBATCH --array=0-{len(names) - 1}" + (f"%{max_parallel}" if max_parallel else ""),
        f"#SBATCH --output={output_dir}/slurm/%A_%a.out",
        "#SBATCH --open-mode=append",
        f"#SBATCH --signal=SIGUSR1@{SIGNAL_LEAD_SECONDS}",
        "#SBATCH --requeue",
        f"#SBATCH --chdir={Path.cwd()}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks-per-node={per_node}",
        *(f"#SBATCH --{name}" + ("" if value is None else f"={value}") for name, value in options.items()),
        "",
        "# array task -> run (the plan frozen in plan.json; each task reads its own entry):",
        *(f"#   {i}: {name}" + (f"  ({commands[name]})" if name in commands else "") for i, name in enumerate(names)),
        "",
        "set -euo pipefail",
        f"RUNS=({' '.join(shlex.quote(n) for n in names)})",
        'RUN="${RUNS[$SLURM_ARRAY_TASK_ID]}"',
        'echo "array task $SLURM_ARRAY_TASK_ID: $RUN (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname)"',
        "exec " + shlex.join(["python", "-m", "lit_srl", "sweep", "task", str(output_dir),
                              *(["--keep-last"] if keep_last else [])]) + ' "$RUN"',
        "",
    ]
    return "\n".join(lines)


def write_script(text: str, output_dir: Path) -> Path:
    """``DIR/sweep.sbatch``, and the folder's lock file naming the job array as its holder (its tasks
    share the lock, so a ``sweep run`` on the folder waits for them, and they write nothing shared)."""
    from lit_srl.sweep.record import write_text_atomic
    from lit_srl.sweep.runner import SWEEP_LOCK_NAME

    path = Path(output_dir) / "sweep.sbatch"
    (Path(output_dir) / "slurm").mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    os.chmod(path, 0o755)
    with open(Path(output_dir) / SWEEP_LOCK_NAME, "a", encoding="utf-8") as lock:  # in place: a held lock stays
        lock.truncate(0)
        lock.write(f"the SLURM job array of {path}\n")
    return path

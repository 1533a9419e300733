"""``sweep slurm``: an sbatch job-array script, one array task per run (plus one for the baselines).

Each array task runs ``python -m lit_srl sweep run DIR/sweep.yaml --output-dir DIR --only <name>``:
the same runner as on one machine, so a task skips a finished run, takes the run's lock, and
resumes from the run's checkpoint (``fit --ckpt_path auto``). The fit itself runs under ``srun``
with one SLURM task per device (``--ntasks-per-node`` = ``trainer.devices``, ``--nodes`` =
``trainer.num_nodes``), as Lightning's SLURM environment expects.

Pre-emption: ``--signal=SIGUSR1@90`` makes SLURM signal the fit 90 s before the time limit;
:class:`lit_srl.callbacks.LastCheckpoint` finishes the current step, writes ``last.ckpt`` and
requeues the task (``--requeue``); the requeued task resumes from that checkpoint, replaying the
same batches as an uninterrupted run. ``scontrol requeue`` (SIGTERM) is handled the same way.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from lit_srl.errors import LitSrlError
from lit_srl.sweep.plan import BASELINE, PlannedRun

SIGNAL_LEAD_SECONDS = 90


def array_script(planned: list[PlannedRun], output_dir: Path, sweep_name: str, sbatch_options: list[str],
                 keep_last: bool = False, baseline: bool = True) -> str:
    """The sbatch script's text; ``sbatch_options`` are extra ``--key=value`` lines (``--partition=gpu``)."""
    output_dir = Path(output_dir).resolve()
    devices = {(p.devices(), p.num_nodes()) for p in planned}
    if len(devices) > 1:
        raise LitSrlError(
            f"the runs of {sweep_name} use different device counts {sorted(devices)}; one job array has one "
            "shape: split the sweep or set trainer.devices/num_nodes in its set:"
        )
    (per_node, nodes), = devices
    names = [p.name for p in planned] + ([BASELINE] if baseline else [])
    accelerator = str((planned[0].config.get("trainer") or {}).get("accelerator") or "auto")
    given = " ".join(sbatch_options)
    lines = [
        "#!/bin/bash",
        f"# {sweep_name}: {len(planned)} runs as a SLURM job array, written by python -m lit_srl sweep slurm",
        f"#SBATCH --job-name={sweep_name}",
        f"#SBATCH --array=0-{len(names) - 1}",
        f"#SBATCH --output={output_dir}/slurm/%A_%a.out",
        "#SBATCH --open-mode=append",
        f"#SBATCH --signal=SIGUSR1@{SIGNAL_LEAD_SECONDS}",
        "#SBATCH --requeue",
        f"#SBATCH --chdir={Path.cwd()}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks-per-node={per_node}",
    ]
    if accelerator in ("gpu", "cuda") and "--gres" not in given:
        lines.append(f"#SBATCH --gres=gpu:{per_node}")
    lines += [f"#SBATCH {option}" for option in sbatch_options]
    lines += ["", "# array task -> run:"]
    lines += [f"#   {i}: {name}" + ("" if name == BASELINE else f"  ({planned[i].command()})") for i, name in enumerate(names)]
    lines += [
        "",
        "set -euo pipefail",
        f"RUNS=({' '.join(shlex.quote(n) for n in names)})",
        'RUN="${RUNS[$SLURM_ARRAY_TASK_ID]}"',
        'echo "array task $SLURM_ARRAY_TASK_ID: $RUN (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname)"',
        "exec " + shlex.join(["python", "-m", "lit_srl", "sweep", "run", str(output_dir / "sweep.yaml"),
                              "--output-dir", str(output_dir), *(["--keep-last"] if keep_last else [])])
        + ' --only "$RUN"',
        "",
    ]
    return "\n".join(lines)


def write_script(text: str, output_dir: Path) -> Path:
    path = Path(output_dir) / "sweep.sbatch"
    (Path(output_dir) / "slurm").mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o755)
    return path

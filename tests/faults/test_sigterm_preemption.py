"""SIGTERM (or a terminal's Ctrl-C) to a fit's whole process group, at any moment, changes nothing.

``scontrol requeue``, SLURM pre-emption and ``kill -TERM -PGID`` signal every process of a fit at
once, its DataLoader worker included (``data.num_workers: 1``, as in the quickstart). Whatever the
moment — between steps, inside a dev evaluation, during a checkpoint write, inside the test of
``fit --result`` — the fit must exit with 143 (not finished) without a traceback, its ``last.ckpt``
must hold the step it stopped at (no step is trained twice), and the same command rerun
(``--ckpt_path auto``, as sweeps run it; a requeued SLURM job) must end as the straight run: the
same batches and losses per step, the same TensorBoard steps, dev curve, best step and test scores.

Ctrl-C (SIGINT to the foreground group) stops the same way with exit 130; a second Ctrl-C stops
at once, keeping the last checkpoint written.

The moments are Lightning hooks (tests/support/signal_moment.py), so each is exact and reproducible;
``LIT_SRL_SIGTERM_SEEDS=1,2,3`` draws other random ones.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.helpers import fit_args, read_scalars
from support.recorder import read_records
from support.signal_moment import MOMENTS, parse_moment
from support.slurm_cluster import cancel, submit, wait_for
from support.sweep_helpers import as_terminal_job, env

#: one worker runs the module, so its straight run (a module fixture) is computed once
pytestmark = [pytest.mark.processes, pytest.mark.xdist_group("sigterm_preemption")]

STEPS, VAL_EVERY = 6, 2  # dev evaluations at steps 2, 4 and 6
EVALUATED = range(VAL_EVERY, STEPS + 1, VAL_EVERY)
SEEDS = [int(seed) for seed in os.environ.get("LIT_SRL_SIGTERM_SEEDS", "186").split(",")]


def fit_command(root: Path, tiny_bert, *extra: str) -> list[str]:
    recorder = ("--trainer.callbacks+=support.recorder.BatchRecorder", f"--trainer.callbacks.path={root / 'batches.jsonl'}")
    return [sys.executable, "-m", "lit_srl", *fit_args(
        root, str(tiny_bert), *recorder, "--data.num_workers=1", "--data.test_tasks=[STSBenchmark]",
        f"--result={root / 'result.json'}", *extra, steps=STEPS, val_every=VAL_EVERY, batch=8)]


def run_fit(command: list[str], root: Path) -> tuple[int, str]:
    """Run a fit in a process group of its own (as a shell job); its exit status and this run's log."""
    log = root / f"fit{len(list(root.glob('fit*.log')))}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=root, env=env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=as_terminal_job)
        returncode = proc.wait(timeout=600)
    return returncode, log.read_text(errors="replace")


def outcome(root: Path) -> dict:
    """What must survive: batches and losses per step, TensorBoard steps, dev curve, best step, scores."""
    result = json.loads((root / "result.json").read_text())
    return {
        "records": read_records(root / "batches.jsonl"),
        "loss_steps": [step for step, _ in read_scalars(root)["train/loss"]],
        "dev_curve": result["selection"]["dev_curve"],
        "best_step": result["selection"]["best_step"],
        "scores": result["scores"],
    }


def assert_same_run(resumed: dict, straight: dict) -> None:
    records, expected = resumed["records"], straight["records"]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))  # no step trained twice
    assert [r["fingerprint"] for r in records] == [r["fingerprint"] for r in expected]
    assert [r["loss"] for r in records] == pytest.approx([r["loss"] for r in expected], rel=1e-6, abs=1e-9)
    assert resumed["loss_steps"] == straight["loss_steps"]
    assert [step for step, _ in resumed["dev_curve"]] == [step for step, _ in straight["dev_curve"]]
    assert [rho for _, rho in resumed["dev_curve"]] == pytest.approx([rho for _, rho in straight["dev_curve"]], abs=1e-7)
    assert resumed["best_step"] == straight["best_step"]
    assert resumed["scores"] == pytest.approx(straight["scores"], abs=1e-6)


def stop_step(moment: str) -> int:
    """The step a stop at ``moment`` saves: the current one (the next, before a step starts)."""
    name, step, _ = parse_moment(moment)
    return {"train_batch_start": step + 1, "test_batch": STEPS}.get(name, step)


def signal_at(moments: list[str], root: Path, send: str = "group", signal_name: str = "SIGTERM") -> tuple[str, ...]:
    """Options adding tests/support/signal_moment.py's SignalAt: one stop at each of ``moments``."""
    return ("--trainer.callbacks+=support.signal_moment.SignalAt", f"--trainer.callbacks.at=[{','.join(moments)}]",
            f"--trainer.callbacks.marker_dir={root}", f"--trainer.callbacks.send={send}",
            f"--trainer.callbacks.signal_name={signal_name}")


def stopped_at_each(moments: list[str], root: Path, tiny_bert, signal_name: str = "SIGTERM") -> dict:
    """Run the same command (``--ckpt_path auto``) until it finishes, stopped once at each moment."""
    command = fit_command(root, tiny_bert, *signal_at(moments, root, signal_name=signal_name), "--ckpt_path=auto")
    for moment in moments:
        returncode, log = run_fit(command, root)
        assert returncode == 128 + signal.Signals[signal_name], f"stop at {moment}: exit {returncode}\n{log[-3000:]}"
        assert "Traceback" not in log and "DataLoader worker" not in log, log[-3000:]
        (last,) = root.rglob("last.ckpt")
        assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == stop_step(moment), moment
        assert not (root / "result.json").exists()
    returncode, log = run_fit(command, root)
    assert returncode == 0, log[-3000:]
    return outcome(root)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_bert, data_dir) -> dict:
    root = tmp_path_factory.mktemp("straight")
    returncode, log = run_fit(fit_command(root, tiny_bert), root)
    assert returncode == 0, log[-3000:]
    return outcome(root)


def test_sigterm_between_steps_in_a_checkpoint_write_inside_the_last_evaluation_and_the_test_changes_nothing(
        straight, tiny_bert, tmp_path):
    """Four stops of one run: before step 3 (saved after step 3), in the checkpoint write after the
    evaluation of step 4, inside the last dev evaluation (step 6, batch 5: the evaluation completes,
    its point is on the dev curve and can be the best), inside the final test (nothing of it is
    written; the rerun only tests). Survives: every step, loss, TensorBoard step, dev point, the
    best step and the test scores of the straight run."""
    moments = ["train_batch_start@2", "checkpoint@4/0", "validation_batch@6/5", "test_batch@6/2"]
    assert_same_run(stopped_at_each(moments, tmp_path, tiny_bert), straight)


def test_ctrl_c_inside_an_evaluation_saves_the_step_and_a_second_ctrl_c_stops_at_once(straight, tiny_bert, tmp_path):
    """Ctrl-C in a terminal (SIGINT to the fit and its loader worker), three runs of one command:
    1. once, inside the dev evaluation of step 4: the evaluation and step finish, last.ckpt is
       saved there, exit 130 without a traceback;
    2. before step 5, then again at its end, before that stop takes effect: the fit stops at once
       (Lightning's KeyboardInterrupt path, exit 1) with no checkpoint of step 5: last.ckpt is
       still step 4's;
    3. the rerun resumes from step 4. Survives: the straight run, step 5 trained again the same way."""
    moments = ["validation_batch@4/3", "train_batch_start@4", "train_batch_end@5"]
    command = fit_command(tmp_path, tiny_bert, *signal_at(moments, tmp_path, signal_name="SIGINT"), "--ckpt_path=auto")

    def last_step() -> int:
        (last,) = tmp_path.rglob("last.ckpt")
        return torch.load(last, map_location="cpu", weights_only=False)["global_step"]

    returncode, log = run_fit(command, tmp_path)
    assert returncode == 128 + signal.SIGINT and "Traceback" not in log and "DataLoader worker" not in log, log[-3000:]
    assert "Ctrl-C: finishing this step" in log and last_step() == 4
    returncode, log = run_fit(command, tmp_path)
    assert returncode == 1 and "KeyboardInterrupt" in log and "DataLoader worker" not in log, log[-3000:]
    assert last_step() == 4 and not (tmp_path / "result.json").exists()
    returncode, log = run_fit(command, tmp_path)
    assert returncode == 0, log[-3000:]
    resumed = outcome(tmp_path)
    steps = [record["step"] for record in resumed["records"]]
    assert steps == [1, 2, 3, 4, 5, 5, 6]
    lost, again = resumed["records"][4:6]
    assert lost == again  # the step lost to the second Ctrl-C, trained again the same way
    assert_same_run({**resumed, "records": resumed["records"][:4] + resumed["records"][5:]}, straight)


def random_moments(seed: int, count: int = 2) -> list[str]:
    """``count`` moments at distinct steps, in run order: a kind of :data:`MOMENTS` drawn uniformly,
    then its step and batch (a test batch before the last of its 20: a stop in the last one finds
    the test finished)."""
    draw = {
        "train_batch_start": lambda: f"@{rng.randrange(STEPS)}",
        "train_batch_end": lambda: f"@{rng.randint(1, STEPS)}",
        "validation_batch": lambda: f"@{rng.choice(EVALUATED)}/{rng.randrange(20)}",
        "validation_end": lambda: f"@{rng.choice(EVALUATED)}",
        "checkpoint": lambda: f"@{rng.choice(EVALUATED)}/0",
        "test_batch": lambda: f"@{STEPS}/{rng.randrange(19)}",
    }
    assert set(draw) == set(MOMENTS)
    rng = random.Random(seed)
    while True:
        kinds = [rng.choice(sorted(draw)) for _ in range(count)]
        moments = sorted((kind + draw[kind]() for kind in kinds), key=order)
        if len({order(m) for m in moments}) == count:
            return moments


def order(moment: str) -> tuple[int, bool]:
    return stop_step(moment), moment.startswith("test")


@pytest.mark.parametrize("seed", SEEDS)
def test_sigterm_at_seeded_random_moments_changes_nothing(seed, straight, tiny_bert, tmp_path):
    """Two stops at moments drawn from every kind (between steps, after a step, inside/after an
    evaluation, in a checkpoint write, inside the test) with each seed of ``LIT_SRL_SIGTERM_SEEDS``
    (default 186: after step 4, before its evaluation; after the last evaluation, before its
    checkpoints). Survives: the same as the straight run, step for step."""
    moments = random_moments(seed)
    print(f"seed {seed}: SIGTERM at {moments}")
    assert_same_run(stopped_at_each(moments, tmp_path, tiny_bert), straight)


@pytest.mark.slurm
def test_scontrol_requeue_of_an_srun_fit_with_a_loader_worker_resumes_to_the_straight_run(
        slurm, straight, tiny_bert, tmp_path, monkeypatch):
    """``scontrol requeue`` after step 3 of an ``srun`` fit: slurmstepd sends SIGTERM to every
    process of the step — the fit and its loader worker — at whatever moment it arrives (during
    step 4 or its evaluation). The fit saves that step and exits 143 without a traceback; the
    requeued job (``SLURM_RESTART_COUNT`` = 1, same command, no ``--ckpt_path``) resumes from
    last.ckpt. Survives: every step once, its loss, the dev curve, best step and test scores."""
    for name in ("PYTHONPATH", "OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM", "PYTHONWARNINGS"):
        monkeypatch.setenv(name, env()[name])  # the job inherits the submitting environment
    output = tmp_path / "slurm.out"
    command = fit_command(tmp_path, tiny_bert, *signal_at(["train_batch_end@3"], tmp_path, send="requeue"))
    script = tmp_path / "fit.sbatch"
    script.write_text("#!/bin/bash\n#SBATCH --requeue\n#SBATCH --open-mode=append\n#SBATCH --cpus-per-task=1\n"
                      f"#SBATCH --output={output}\nsrun {shlex.join(command)}\n")
    job = submit(script, tmp_path)
    try:
        states = wait_for(job, timeout=600)
    finally:
        cancel(job)
    log = output.read_text(errors="replace")
    assert states == {job: "COMPLETED"}, (states, log[-3000:])
    assert log.count("stopped by SIGTERM after step") == 1 and "resuming from" in log, log[-3000:]
    assert "Traceback" not in log and "DataLoader worker" not in log, log[-3000:]
    assert_same_run(outcome(tmp_path), straight)

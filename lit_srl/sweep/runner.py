"""``sweep run``: the planned runs as ``python -m lit_srl fit`` processes, K at a time.

* A finished run (its ``result.json`` exists) is skipped; any other resumes from its folder's
  newest readable checkpoint (``--ckpt_path auto``), so rerunning the same command continues a
  sweep after a crash, a Ctrl-C or a failure.
* Each run is guarded by a lock file (``fcntl.flock`` on ``runs/<name>/.lock``): two ``sweep run``
  on one folder — or SLURM array tasks beside a local run — never run the same run twice.
* A failed run (non-zero exit) is recorded in ``failure.json`` with the end of its log and the
  others go on; the exit status is 0 only when every run (and baseline) has finished.
* Ctrl-C (SIGINT) or SIGTERM: every running fit gets SIGTERM, finishes its current step, writes
  ``last.ckpt`` and exits (:class:`lit_srl.callbacks.LastCheckpoint`); the runner waits for them.
* With GPUs, slot k of ``--jobs K`` sees its own GPUs (``CUDA_VISIBLE_DEVICES``); on CPU the cores
  are split between the slots (``OMP_NUM_THREADS``).
* Inside a SLURM job the fit runs under ``srun``, one task per device, as Lightning's SLURM
  environment expects; SLURM's ``--signal`` then reaches it.
* Disk: a finished run keeps only the weights of its best checkpoint (optimizer state dropped,
  the file stays a lit_srl checkpoint for ``eval``/``export``) and drops ``last.ckpt`` unless
  ``keep_last``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from lit_srl.errors import LitSrlError
from lit_srl.sweep.plan import BASELINE, FAILURE_NAME, LOG_NAME, PlannedRun, baseline_args, baseline_path
from lit_srl.sweep.record import write_json

log = logging.getLogger("lit_srl")
ATTEMPTS_NAME = "attempts.jsonl"


class RunLock:
    """An exclusive, non-blocking lock on ``folder/.lock`` (released when the process dies)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / ".lock"
        self.file = None

    def acquire(self) -> bool:
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            self.file = None
            return False
        return True

    def release(self) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


def in_slurm_job() -> bool:
    return bool(os.environ.get("SLURM_JOB_ID")) and not os.environ.get("SLURM_STEP_ID")


def launcher(devices: int, num_nodes: int) -> list[str]:
    """``srun …`` inside a SLURM job (one task per device), nothing elsewhere."""
    if not in_slurm_job():
        return []
    cmd = ["srun", "--kill-on-bad-exit=1", f"--nodes={num_nodes}", f"--ntasks-per-node={devices}"]
    if os.environ.get("SLURM_CPUS_PER_TASK"):  # srun of SLURM 22.05 does not inherit it
        cmd.append(f"--cpus-per-task={os.environ['SLURM_CPUS_PER_TASK']}")
    return cmd


def slim_checkpoint(path: Path) -> None:
    """Keep a checkpoint's weights and lit_srl record, drop optimizer and loop state (atomic)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("optimizer_states", "lr_schedulers", "loops", "callbacks"):
        ckpt.pop(key, None)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def tidy_finished(planned: PlannedRun, keep_last: bool) -> None:
    """The disk policy of a finished run: best weights only, no resumable state unless asked."""
    result = json.loads(planned.result_path.read_text(encoding="utf-8"))
    best = (result.get("selection") or {}).get("checkpoint")
    if best and Path(best).is_file():
        slim_checkpoint(Path(best))
    if not keep_last:
        for pattern in ("lightning_logs/version_*/checkpoints/last*.ckpt", "checkpoints/last*.ckpt", "hpc_ckpt_*.ckpt"):
            for path in planned.folder.glob(pattern):
                path.unlink()


class SweepRunner:
    """Runs planned runs (and their baselines) with ``jobs`` slots; see the module docstring."""

    def __init__(self, planned: list[PlannedRun], output_dir: Path, jobs: int = 1, keep_last: bool = False,
                 python: str = sys.executable) -> None:
        if jobs < 1:
            raise LitSrlError(f"--jobs must be at least 1, got {jobs}")
        self.planned = planned
        self.output_dir = Path(output_dir)
        self.jobs = jobs
        self.keep_last = keep_last
        self.python = python
        self.status: dict[str, str] = {}
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._gpus = self._count_gpus()

    @staticmethod
    def _count_gpus() -> int:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            return len([d for d in visible.split(",") if d.strip()])
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return 0
        return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))

    # ------------------------------------------------------------------ processes
    def _env(self, slot: int, devices: int) -> dict:
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
        if in_slurm_job():
            return env  # SLURM gives each task its devices
        if self._gpus:
            if (slot + 1) * devices > self._gpus:
                raise LitSrlError(f"--jobs {self.jobs} with {devices} device(s) a run needs "
                                  f"{self.jobs * devices} GPUs; {self._gpus} are visible")
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            ids = visible.split(",") if visible else [str(i) for i in range(self._gpus)]
            env["CUDA_VISIBLE_DEVICES"] = ",".join(ids[slot * devices:(slot + 1) * devices])
        elif self.jobs > 1 and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.jobs))
        return env

    def _execute(self, args: list[str], folder: Path, env: dict, prefix: list[str]) -> tuple[int, float]:
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [*prefix, self.python, "-m", "lit_srl", *args]
        start = time.time()
        with open(folder / LOG_NAME, "a", encoding="utf-8") as out:
            out.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
            out.flush()
            # a session of its own: Ctrl-C reaches the runner, which asks each fit to stop cleanly
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            with self._lock:
                self._children.add(proc)
            try:
                returncode = proc.wait()
            finally:
                with self._lock:
                    self._children.discard(proc)
        wall = time.time() - start
        with open(folder / ATTEMPTS_NAME, "a", encoding="utf-8") as f:
            f.write(json.dumps({"start": start, "wall_seconds": wall, "returncode": returncode, "args": args}) + "\n")
        return returncode, wall

    def stop(self, signum=None, frame=None) -> None:
        """Ask every running fit to checkpoint and stop (SIGTERM); start nothing new."""
        if not self._stopping:
            log.info("stopping: every running fit finishes its current step (and a dev evaluation under way), "
                     "saves last.ckpt and exits; rerun to resume")
        self._stopping = True
        with self._lock:
            for proc in self._children:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

    # ------------------------------------------------------------------ tasks
    def run_baseline(self, path: Path, config: dict, slot: int) -> str:
        if path.is_file():
            return "finished"
        lock = RunLock(path.parent / f".{path.stem}")
        if not lock.acquire():
            return "busy"
        try:
            if path.is_file():
                return "finished"
            returncode, _ = self._execute(baseline_args(self.output_dir, config), path.parent / path.stem,
                                          self._env(slot, 1), [])
            return "finished" if returncode == 0 and path.is_file() else "failed"
        finally:
            lock.release()

    def run_one(self, planned: PlannedRun, slot: int) -> str:
        """Run (or resume) one run; its state afterwards: finished, failed, busy or stopped."""
        if planned.result_path.is_file():
            return "finished"
        lock = RunLock(planned.folder)
        if not lock.acquire():
            log.info("%s: busy (another sweep run or array task holds its lock)", planned.name)
            return "busy"
        try:
            if planned.result_path.is_file():
                return "finished"
            log.info("%s: start  %s", planned.name, planned.command())
            returncode, wall = self._execute(
                planned.fit_args(), planned.folder, self._env(slot, planned.devices()),
                launcher(planned.devices(), planned.num_nodes()),
            )
            failure = planned.folder / FAILURE_NAME
            if returncode == 0 and planned.result_path.is_file():
                tidy_finished(planned, self.keep_last)
                if failure.exists():
                    failure.unlink()
                log.info("%s: finished in %.0f s", planned.name, wall)
                return "finished"
            if self._stopping:
                return "stopped"
            tail = (planned.folder / LOG_NAME).read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
            error = next((line for line in reversed(tail) if line.startswith("error:")), None)
            write_json(failure, {"returncode": returncode, "error": error, "log_tail": tail,
                                 "date": time.strftime("%Y-%m-%dT%H:%M:%S")})
            log.error("%s: failed (exit %d)%s; see %s", planned.name, returncode,
                      f": {error}" if error else "", planned.folder / LOG_NAME)
            return "failed"
        finally:
            lock.release()

    def run(self, names: Optional[list[str]] = None, baseline: bool = True) -> int:
        """Run the selected runs (default all) and baselines; 0 iff all of them finished."""
        selected = [p for p in self.planned if names is None or p.name in names]
        tasks: list[tuple[str, object]] = []
        if baseline and (names is None or BASELINE in names):
            seen = {}
            for p in self.planned:
                seen.setdefault(baseline_path(self.output_dir, p.config), p.config)
            tasks += [(f"{BASELINE} {path.stem}", (path, config)) for path, config in seen.items()]
        tasks += [(p.name, p) for p in selected]
        queue = list(tasks)
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGINT, signal.SIGTERM)}

        def worker(slot: int) -> None:
            while not self._stopping:
                with self._lock:
                    if not queue:
                        return
                    name, task = queue.pop(0)
                try:
                    if isinstance(task, PlannedRun):
                        state = self.run_one(task, slot)
                    else:
                        state = self.run_baseline(*task, slot)
                except LitSrlError as exc:
                    log.error("%s: %s", name, exc)
                    state = "failed"
                self.status[name] = state

        try:
            threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(self.jobs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for name, _ in tasks:
            self.status.setdefault(name, "not started")
        counts: dict[str, int] = {}
        for state in self.status.values():
            counts[state] = counts.get(state, 0) + 1
        log.info("sweep: %s", ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        for name, state in self.status.items():
            if state != "finished":
                log.info("  %s: %s", name, state)
        if self._stopping:
            return 130
        return 0 if all(state == "finished" for state in self.status.values()) else 1

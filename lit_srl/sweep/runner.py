"""``sweep run``: the planned runs as ``python -m lit_srl fit`` processes, K at a time.

* A finished run (its ``result.json`` exists) is skipped; any other resumes from its folder's
  newest readable checkpoint (``--ckpt_path auto``), so rerunning the same command continues a
  sweep after a crash, a Ctrl-C or a failure.
* One ``sweep run`` per output folder: it holds ``DIR/.sweep.lock`` (shared between the SLURM array
  tasks of one sweep, which run disjoint runs); a second one stops with one line naming the first
  and starts nothing.
* A run's fit holds its folder's lock itself (:mod:`lit_srl.run_lock`), for as long as it lives: a
  run whose fit is still alive — a run of another runner, of an array task, or the fit of a runner
  that died — is reported *busy* and never started twice.
* A fit does not outlive its runner (:mod:`lit_srl.sweep.tether`): SIGHUP (the ssh session went),
  SIGINT and SIGTERM to the runner stop its fits cleanly, and if the runner is killed outright each
  fit gets SIGTERM from the kernel. Either way the fit saves ``last.ckpt`` at its current step and
  the rerun resumes it. Under ``nohup`` (SIGHUP ignored) the sweep goes on after logout.
* A failed run (non-zero exit) is recorded in ``failure.json`` with the end of its log and the
  others go on; the exit status is 0 only when every run (and baseline) has finished.
* Ctrl-C (SIGINT), SIGTERM or SIGHUP: every running fit gets SIGTERM, finishes its current step,
  writes ``last.ckpt`` and exits (:class:`lit_srl.callbacks.LastCheckpoint`); the runner waits for them.
* Slot k of ``--jobs K`` sees its own GPUs, ``--runs-per-gpu N`` slots sharing one; the cores are
  split between the slots (:mod:`lit_srl.sweep.placement`). Too few GPUs: refused before any run.
* Warm start (default; ``--cold-start`` turns it off): while a slot's run trains, the slot's next
  process is already importing torch, transformers and Lightning, and takes the next run when it
  comes (:mod:`lit_srl.sweep.standby`), so those seconds leave each run's overhead. A run is a warm
  start when its standby had finished importing; the others (cold, or handed to a standby still
  importing) are counted apart. Not inside a SLURM job.
* Per-run overhead: the wall time of a finished run's process from the moment the run was handed to
  it (started cold, or given to a warm standby) outside its fit and test (start-up left, set-up,
  teardown, exit), plus the checkpoint slimming; recorded in its ``result.json`` (``runner``) and
  summarised at the end.
* Inside a SLURM job the fit runs under ``srun``, one task per device, as Lightning's SLURM
  environment expects; SLURM's ``--signal`` then reaches it.
* Disk: a finished run keeps only the weights of its best checkpoint (optimizer state dropped,
  the file stays a lit_srl checkpoint for ``eval``/``export``) and drops ``last.ckpt`` unless
  ``keep_last``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from lit_srl.errors import LitSrlError
from lit_srl.run_lock import BUSY_EXIT, FolderBusy, RunLock
from lit_srl.sweep.placement import Slot, place_slots, visible_gpus
from lit_srl.sweep.plan import BASELINE, FAILURE_NAME, LOG_NAME, PlannedRun, baseline_args, baseline_path
from lit_srl.sweep.record import write_json
from lit_srl.sweep.standby import Standby
from lit_srl.sweep.tether import tethered_env

log = logging.getLogger("lit_srl")
ATTEMPTS_NAME = "attempts.jsonl"
SWEEP_LOCK_NAME = ".sweep.lock"
__all__ = ["RunLock", "SweepRunner"]


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
    from lit_srl.atomic import atomic_open

    with atomic_open(path) as f:
        torch.save(ckpt, f)


def tidy_finished(planned: PlannedRun, keep_last: bool) -> None:
    """The disk policy of a finished run: best weights only, no resumable state unless asked.

    An earlier best checkpoint can outlive its replacement: Lightning's ModelCheckpoint never
    deletes the checkpoint a run resumed from (a rerun after a crash that resumed from best-step3
    keeps it beside best-step6), so every best-*.ckpt but the selected one goes too.
    """
    result = json.loads(planned.result_path.read_text(encoding="utf-8"))
    best = (result.get("selection") or {}).get("checkpoint")
    if best and Path(best).is_file():
        slim_checkpoint(Path(best))
        for stale in planned.folder.glob("**/checkpoints/best-*.ckpt"):
            if stale.resolve() != Path(best).resolve():
                stale.unlink()
    if not keep_last:
        for pattern in ("lightning_logs/version_*/checkpoints/last*.ckpt", "checkpoints/last*.ckpt", "hpc_ckpt_*.ckpt"):
            for path in planned.folder.glob(pattern):
                path.unlink()


def record_overhead(planned: PlannedRun, wall: float, tidy_seconds: float, warm: bool) -> Optional[float]:
    """Add ``runner`` to the run's ``result.json``: its process's wall time (from the hand-over),
    the slimming time, whether it started warm, and the overhead = wall + slimming minus the fit,
    test and transfer time the run measured itself (seconds)."""
    record = json.loads(planned.result_path.read_text(encoding="utf-8"))
    train = record.get("train") or {}
    inside = [train.get(key) for key in ("fit_seconds", "test_seconds", "transfer_seconds")]
    overhead = None
    if train.get("fit_seconds") is not None and train.get("test_seconds") is not None:
        overhead = wall + tidy_seconds - sum(v for v in inside if v is not None)
    record["runner"] = {"wall_seconds": wall, "tidy_seconds": tidy_seconds, "overhead_seconds": overhead,
                        "warm_start": warm}
    write_json(planned.result_path, record)
    return overhead


class SweepRunner:
    """Runs planned runs (and their baselines) with ``jobs`` slots; see the module docstring."""

    def __init__(self, planned: list[PlannedRun], output_dir: Path, jobs: int = 1, keep_last: bool = False,
                 python: str = sys.executable, runs_per_gpu: int = 1, warm_start: bool = True) -> None:
        if jobs < 1:
            raise LitSrlError(f"--jobs must be at least 1, got {jobs}")
        self.planned = planned
        self.output_dir = Path(output_dir)
        self.jobs = jobs
        self.runs_per_gpu = runs_per_gpu
        self.keep_last = keep_last
        self.python = python
        self.warm_start = warm_start and not in_slurm_job()
        self.status: dict[str, str] = {}
        self.overheads: dict[str, tuple[float, bool]] = {}  # run → (seconds outside fit and test, warm start)
        self._slots: list[Slot] = []
        self._children: set[subprocess.Popen] = set()
        self._standbys: dict[int, Standby] = {}  # slot → its next process, importing ahead
        self._spawner: Optional[ThreadPoolExecutor] = None  # the thread that starts standbys
        self._queue: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._signal: Optional[int] = None

    # ------------------------------------------------------------------ processes
    def place(self, devices: int, gpu: bool = True) -> None:
        """The job slots for runs of up to ``devices`` devices (on GPUs unless ``gpu`` is False: every
        run is ``accelerator: cpu``); LitSrlError if the GPUs are too few."""
        if in_slurm_job():  # SLURM gives each task its devices
            self._slots = [Slot(k, (), None) for k in range(self.jobs)]
            return
        self._slots = place_slots(self.jobs, devices, visible_gpus() if gpu else [], self.runs_per_gpu,
                                  threads_set="OMP_NUM_THREADS" in os.environ)
        if any(slot.gpus for slot in self._slots):
            log.info("GPUs of the %d slot(s): %s", self.jobs, "; ".join(f"{slot.index}: {','.join(slot.gpus)}"
                                                                       for slot in self._slots))

    def _env(self, slot: int, devices: int) -> dict:
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
        if in_slurm_job():
            return env  # SLURM gives each task its devices and ends them with the job
        return tethered_env(self._slots[slot].env(env, devices))

    def _execute(self, args: list[str], folder: Path, env: dict, prefix: list[str],
                 slot: int) -> tuple[int, float, bool]:
        """Run ``python -m lit_srl ARGS`` for a task of ``slot``: its exit status, wall time and
        whether it started warm (handed to a standby that had finished importing)."""
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [*prefix, self.python, "-m", "lit_srl", *args]
        start = time.time()
        with open(folder / LOG_NAME, "a", encoding="utf-8") as out:
            out.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
            out.flush()
            standby = self._hand_to_standby(slot, args, folder / LOG_NAME, env) if not prefix else None
            proc, warm = (standby.process, bool(standby.ready_at_handover)) if standby else (None, False)
            if proc is None:
                # a session of its own: Ctrl-C reaches the runner, which asks each fit to stop cleanly
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            with self._lock:
                self._children.add(proc)
                if self._stopping:  # stop() ran between the start and now: it did not see this one
                    proc.send_signal(signal.SIGTERM)
                self._prepare_standby(slot, env, prefix)
            try:
                returncode = proc.wait()
            finally:
                with self._lock:
                    self._children.discard(proc)
        wall = time.time() - start
        with open(folder / ATTEMPTS_NAME, "a", encoding="utf-8") as f:
            f.write(json.dumps({"start": start, "wall_seconds": wall, "returncode": returncode, "args": args,
                                "standby": standby is not None, "warm_start": warm}) + "\n")
        return returncode, wall, warm

    def _hand_to_standby(self, slot: int, args: list[str], log_path: Path, env: dict) -> Optional[Standby]:
        """A standby of ``env``, now running ``args``: the slot's own, else another slot's (the
        next task goes to whichever slot is free first); None when there is none."""
        with self._lock:
            own = self._standbys.pop(slot, None)
            if own is not None and own.env != env:
                unfit, own = own, None
            else:
                unfit = None
            if own is None:
                other = next((k for k, standby in self._standbys.items() if standby.env == env), None)
                own = self._standbys.pop(other) if other is not None else None
        if unfit is not None:
            unfit.end()
        return own if own and own.take(args, log_path, env) else None

    def _prepare_standby(self, slot: int, env: dict, prefix: list[str]) -> None:
        """Start the slot's next process (under the lock), if tasks wait that it could take: it
        imports while this one runs. The next task usually needs the same ``env``."""
        if (self.warm_start and self._spawner is not None and not prefix and not self._stopping
                and len(self._queue) > len(self._standbys)):
            # Started from one thread that outlives every slot's: the kernel's tether (parent-death
            # signal) follows the thread that started a process, and another slot may take this one.
            try:
                self._standbys[slot] = self._spawner.submit(Standby, self.python, env).result()
            except OSError as exc:  # (out of processes or memory): the next run starts cold
                log.warning("no warm start for slot %d's next run: %s", slot, exc)

    def _end_standbys(self, slot: Optional[int] = None) -> None:
        """End the standby of ``slot`` (default: of every slot)."""
        with self._lock:
            slots = list(self._standbys) if slot is None else [slot]
            standbys = [self._standbys.pop(k) for k in slots if k in self._standbys]
        for standby in standbys:
            standby.end()

    def stop(self, signum=None, frame=None) -> None:
        """Ask every running fit to checkpoint and stop (SIGTERM); start nothing new."""
        if not self._stopping:
            log.info("stopping: every running fit finishes its current step (and a dev evaluation under way), "
                     "saves last.ckpt and exits; rerun to resume")
        self._stopping = True
        self._signal = self._signal or signum
        with self._lock:
            for proc in self._children:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
        self._end_standbys()

    # ------------------------------------------------------------------ tasks
    def run_baseline(self, path: Path, config: dict, slot: int) -> str:
        if path.is_file():
            return "finished"
        lock = RunLock(path.parent / f".{path.stem}")  # eval holds no lock of its own
        if not lock.acquire():
            return "busy"
        try:
            if path.is_file():
                return "finished"
            returncode, _, _ = self._execute(baseline_args(self.output_dir, config), path.parent / path.stem,
                                             self._env(slot, 1), [], slot)
            return "finished" if returncode == 0 and path.is_file() else "failed"
        finally:
            lock.release()

    def run_one(self, planned: PlannedRun, slot: int) -> str:
        """Run (or resume) one run; its state afterwards: finished, failed, busy or stopped."""
        if planned.result_path.is_file():
            return "finished"
        lock = RunLock(planned.folder)  # held by the run's fit (lit_srl.run_lock): only probed here
        if not lock.probe():
            log.info("%s: busy (its fit is running: %s)", planned.name, lock.holder())
            return "busy"
        if planned.result_path.is_file():
            return "finished"
        log.info("%s: start  %s", planned.name, planned.command())
        returncode, wall, warm = self._execute(
            planned.fit_args(), planned.folder, self._env(slot, planned.devices()),
            launcher(planned.devices(), planned.num_nodes()), slot,
        )
        failure = planned.folder / FAILURE_NAME
        if returncode == 0 and planned.result_path.is_file():
            start = time.perf_counter()
            tidy_finished(planned, self.keep_last)
            overhead = record_overhead(planned, wall, time.perf_counter() - start, warm)
            if overhead is not None:
                self.overheads[planned.name] = (overhead, warm)
            if failure.exists():
                failure.unlink()
            log.info("%s: finished in %.0f s (%s s outside fit and test%s)", planned.name, wall,
                     "?" if overhead is None else f"{overhead:.1f}", ", warm start" if warm else "")
            return "finished"
        if returncode == BUSY_EXIT:  # another fit took the folder between the probe and the start
            log.info("%s: busy (its fit is running: %s)", planned.name, lock.holder())
            return "busy"
        if self._stopping:
            return "stopped"
        tail = (planned.folder / LOG_NAME).read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        error = next((line for line in reversed(tail) if line.startswith("error:")), None)
        write_json(failure, {"returncode": returncode, "error": error, "log_tail": tail,
                             "date": time.strftime("%Y-%m-%dT%H:%M:%S")})
        log.error("%s: failed (exit %d)%s; see %s", planned.name, returncode,
                  f": {error}" if error else "", planned.folder / LOG_NAME)
        return "failed"

    def hold_output_dir(self) -> RunLock:
        """The lock of the output folder: exclusive for a ``sweep run``, shared by array tasks."""
        lock = RunLock(self.output_dir, SWEEP_LOCK_NAME)
        array_task = in_slurm_job() and bool(os.environ.get("SLURM_ARRAY_TASK_ID"))
        if not lock.acquire(shared=array_task):
            raise FolderBusy(
                f"{self.output_dir} is in use by another sweep run ({lock.holder()}); wait for it to end, "
                "or stop it (Ctrl-C: its fits save last.ckpt) and rerun"
            )
        if not array_task:  # array tasks write nothing shared: `sweep slurm` wrote the holder line
            lock.mark_holder()
        return lock

    def _signals(self) -> dict:
        """Install :meth:`stop` for SIGINT, SIGTERM and SIGHUP (unless ignored: ``nohup``)."""
        if threading.current_thread() is not threading.main_thread():
            return {}  # only the main thread may set handlers (a runner inside a test's thread)
        wanted = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            wanted.append(signal.SIGHUP)
        return {sig: signal.signal(sig, self.stop) for sig in wanted}

    def run(self, names: Optional[list[str]] = None, baseline: bool = True) -> int:
        """Run the selected runs (default all) and baselines; 0 iff all of them finished.

        Refused (LitSrlError, nothing started) when the GPUs cannot hold the slots or another
        ``sweep run`` holds the output folder.
        """
        selected = [p for p in self.planned if names is None or p.name in names]
        tasks: list[tuple[str, object]] = []
        if baseline and (names is None or BASELINE in names):
            seen = {}
            for p in self.planned:
                seen.setdefault(baseline_path(self.output_dir, p.config), p.config)
            tasks += [(f"{BASELINE} {path.stem}", (path, config)) for path, config in seen.items()]
        tasks += [(p.name, p) for p in selected]
        self.place(max([p.devices() for p in selected], default=1), gpu=any(p.uses_gpu() for p in selected))
        folder_lock = self.hold_output_dir()
        try:
            self._run_tasks(tasks)
        finally:
            folder_lock.release()
        return self.summarise(tasks)

    def _run_tasks(self, tasks: list[tuple[str, object]]) -> None:
        self._queue = list(tasks)

        def worker(slot: int) -> None:
            while not self._stopping:
                with self._lock:
                    if not self._queue:
                        break
                    name, task = self._queue.pop(0)
                try:
                    if isinstance(task, PlannedRun):
                        state = self.run_one(task, slot)
                    else:
                        state = self.run_baseline(*task, slot)
                except LitSrlError as exc:
                    log.error("%s: %s", name, exc)
                    state = "failed"
                self.status[name] = state
            self._end_standbys(slot)  # nothing left for it

        previous = self._signals()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="standby")
        try:
            threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(self.jobs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            self._end_standbys()
            self._spawner.shutdown()
            self._spawner = None
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def summarise(self, tasks: list[tuple[str, object]]) -> int:
        """Log the states and the per-run overhead; the exit status (128 + signal when stopped)."""
        for name, _ in tasks:
            self.status.setdefault(name, "not started")
        counts: dict[str, int] = {}
        for state in self.status.values():
            counts[state] = counts.get(state, 0) + 1
        log.info("sweep: %s", ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        for warm in (True, False):
            values = [seconds for seconds, started_warm in self.overheads.values() if started_warm is warm]
            if values:
                log.info("per-run overhead (wall time outside fit and test), started %s: mean %.1f s, max %.1f s "
                         "over %d run(s)", "warm" if warm else "cold", sum(values) / len(values), max(values),
                         len(values))
        for name, state in self.status.items():
            if state != "finished":
                log.info("  %s: %s", name, state)
        if self._stopping:
            return 128 + int(self._signal or signal.SIGINT)
        return 0 if all(state == "finished" for state in self.status.values()) else 1

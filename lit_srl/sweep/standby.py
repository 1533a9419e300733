"""Warm start: the next run's process imports while the slot's current run trains.

A fresh ``python -m lit_srl fit`` spends most of its start importing torch, transformers and
Lightning (9 s of a 2-core CPU, BENCHMARKS.md "Process start"), before it has read its arguments.
So ``sweep run`` starts each slot's next process early, as a *standby*: ``python -m lit_srl`` with
``LIT_SRL_STANDBY=FD`` in its environment and no arguments, FD the writing end of a pipe it
inherits. It imports what a fit needs (with the collector paused, as every command does), says so
on FD (a byte, then closes it), then waits on its stdin for one order from the runner, a JSON line
``{"argv": [...], "log": PATH}``. Given one it becomes that command exactly: its output
(what the imports printed first) goes to the run's log, ``sys.argv`` is the command's (Lightning's
DDP relaunches the other ranks from it) and :func:`lit_srl.cli.main` runs it. At end of input it
exits 0 having run nothing.

The runner (:class:`Standby`) hands a run to its slot's standby only when the environment the
run needs (the slot's GPUs and threads for the run's devices) is the one the standby started
with; otherwise that standby is ended and the run starts cold. A run is a *warm start* when its
standby had finished importing at the hand-over; one handed over earlier (two slots starting at
once) still gains what the standby had done, and is counted apart. Never inside a SLURM job (runs start
under ``srun`` there). A standby is tethered to its runner like a fit (:mod:`lit_srl.sweep.tether`)
and has no SIGTERM handler until its fit installs one, so stopping the runner ends it at once.
"""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Mapping, Optional, Sequence

STANDBY = "LIT_SRL_STANDBY"


class Standby:
    """Runner side: one standby process of a slot, started with ``env``; see the module docstring."""

    def __init__(self, python: str, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.ready_at_handover: Optional[bool] = None
        self._ready, ready_write = os.pipe()
        try:
            # What the imports print (warnings) waits in an unnamed file until the run's log is known.
            with tempfile.TemporaryFile() as early_output:
                self.process = subprocess.Popen(
                    [python, "-m", "lit_srl"], stdin=subprocess.PIPE, stdout=early_output, stderr=subprocess.STDOUT,
                    env={**self.env, STANDBY: str(ready_write)}, pass_fds=(ready_write,), start_new_session=True)
        except BaseException:
            os.close(self._ready)
            raise
        finally:
            os.close(ready_write)

    def ready(self) -> bool:
        """Whether it has finished its imports (it wrote to, or closed, its end of the ready pipe)."""
        return self._ready >= 0 and bool(select.select([self._ready], [], [], 0)[0])

    def take(self, argv: Sequence[str], log: Path, env: Mapping[str, str]) -> Optional[subprocess.Popen]:
        """Give this standby the command ``argv`` (writing to ``log``): its process, now running it,
        or None (the standby is ended) when ``env`` is not its own or it is no longer alive."""
        if dict(env) != self.env or self.process.poll() is not None:
            self.end()
            return None
        order = json.dumps({"argv": list(argv), "log": str(Path(log).resolve())}) + "\n"
        self.ready_at_handover = self.ready()
        self._close_ready()
        try:
            self.process.stdin.write(order.encode("utf-8"))
            self.process.stdin.close()
        except OSError:  # it died between the poll and the write
            self.end()
            return None
        return self.process

    def end(self) -> None:
        """End a standby that got no run (SIGTERM; it has no handler of its own until it runs a fit)."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()
        if self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        self._close_ready()

    def _close_ready(self) -> None:
        if self._ready >= 0:
            os.close(self._ready)
            self._ready = -1


def standby_ready_fd() -> Optional[int]:
    """The ready pipe of a process started as a standby, None for any other (the variable is
    removed: DDP ranks it starts are ordinary processes); exit 2 with one line if it names none."""
    value = os.environ.pop(STANDBY, None)
    if value is None:
        return None
    try:
        if int(value) > 2 and stat.S_ISFIFO(os.fstat(int(value)).st_mode):
            return int(value)
    except (ValueError, OSError):
        pass
    print(f"error: {STANDBY}={value} is for sweep run's standby processes and must name the file descriptor of "
          "an inherited pipe; unset it to run python -m lit_srl", file=sys.stderr)
    raise SystemExit(2)


def await_order(imports: Sequence[str], ready_fd: int) -> bool:
    """Child side: import ``imports``, say so on ``ready_fd``, then wait for the runner's order and
    become that command (``sys.argv``, stdout and stderr); False at end of input (no run for it)."""
    import importlib

    from lit_srl.startup import imports_without_gc

    with imports_without_gc():
        for module in imports:
            importlib.import_module(module)
    try:
        os.write(ready_fd, b"1")
    except OSError:  # the runner has already closed its end (it handed the run over meanwhile)
        pass
    os.close(ready_fd)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return False
    order = _read_order(line)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout.flush()
    sys.stderr.flush()
    early = _early_output()
    log = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if early:
        os.write(log, early)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.argv[1:] = order["argv"]
    return True


def _read_order(line: bytes) -> dict:
    """The runner's order, or exit 2 with one line (this process is ``sweep run``'s, not a user's)."""
    try:
        order = json.loads(line)
        valid = (isinstance(order, dict) and isinstance(order.get("log"), str)
                 and isinstance(order.get("argv"), list) and all(isinstance(a, str) for a in order["argv"]))
    except ValueError:
        valid = False
    if not valid:
        print(f"error: {STANDBY} makes python -m lit_srl wait for sweep run's order, a JSON line "
              f'{{"argv": [...], "log": PATH}} on stdin; got {line[:80]!r}', file=sys.stderr)
        raise SystemExit(2)
    return order


def _early_output() -> bytes:
    """What this process printed before it knew its log (stdout is the runner's unnamed file)."""
    try:
        return os.pread(1, os.fstat(1).st_size, 0)
    except OSError:
        return b""

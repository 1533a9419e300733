"""Pre-emption: a stop asked by a signal takes effect at the next point a resumed run can replay.

``scontrol requeue``, SLURM pre-emption, ``scancel`` and ``kill -TERM -PGID`` send SIGTERM to every
process of the fit at once — its DataLoader workers too; SLURM's time-limit warning
(``--signal=SIGUSR1@90``) may also reach every process of the step. Three rules make any moment
of that signal safe:

* **Loader workers ignore it** (:func:`ignore_stop_signals`, their ``worker_init_fn``). A worker
  killed by the signal makes PyTorch raise ``DataLoader worker (pid N) is killed by signal`` in the
  main process, in the middle of a step. The main process shuts its workers down itself when it
  stops; a worker whose main process died exits on its own (PyTorch's parent watchdog).
* **The main process finishes what it is doing.** Lightning's signal connector sets a flag that
  its loops read at the end of each training step, and also between evaluation batches, where it
  abandons a dev evaluation half-way: the run then never redoes that evaluation and may keep an
  earlier best checkpoint. :class:`DeferredStopConnector` keeps the flag down while an evaluation
  runs inside ``fit``: the stop happens after the evaluation and its checkpoints (best and
  ``last.ckpt``), at the end of the step. A standalone ``validate``/``test``, or the test of
  ``fit --result``, stops at once: nothing of it is written, and the rerun does it again.
* **The exit status says the run did not finish**: ``128 + signal`` (143 for SIGTERM, as a shell
  reports a process killed by it), never 0, so a runner resumes it (:func:`stop_exit_code`).
* **Under DDP the ranks agree on the step** (:class:`StopAgreement`). The signal reaches the ranks
  at different moments (or only some of them), and a rank that stops alone leaves the others
  waiting in their next collective. Lightning's answer is a collective inside the signal handler
  (out of order with the other ranks' collectives) and rank 0's flag broadcast on the device before
  every step, whose ``.item()`` makes the host wait for the GPU each step. Here the handler only
  raises the rank's own flag; at the start of each step every rank posts its flag to an
  asynchronous all-reduce (MAX) on a CPU (gloo) group and reads the one posted a step earlier. So
  all ranks stop before the same step — one step after the step in which the first rank got the
  signal — with no device sync, and evaluations are never abandoned half-way on some ranks.
"""

from __future__ import annotations

import signal
from typing import Optional

import torch
import torch.distributed as dist
from lightning.pytorch.trainer.connectors.signal_connector import _SignalConnector
from lightning.pytorch.trainer.states import RunningStage, TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

#: Signals that ask a fit to stop after its step: what schedulers send (SIGTERM; SIGUSR1/SIGUSR2
#: as time-limit warnings) and a terminal's Ctrl-C (SIGINT). Loader workers ignore them all.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
_EVALUATION_STAGES = (RunningStage.VALIDATING, RunningStage.SANITY_CHECKING)


def ignore_stop_signals(worker_id: int) -> None:
    """``worker_init_fn`` of the training DataLoader: the worker ignores :data:`STOP_SIGNALS`."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class DeferredStopConnector(_SignalConnector):
    """Lightning's signal connector whose stop flag waits for a dev evaluation inside ``fit`` to end.

    Lightning's loops read ``trainer.received_sigterm`` (this connector's ``received_sigterm``):
    the training loop after each step (and before the next under DDP), the evaluation loop after
    each batch. Here a stop requested during an evaluation of ``fit`` reads as not yet requested
    until the evaluation, its ``on_validation_end`` checkpoints included, is over; the training
    loop then stops at the end of the step. ``stop_signal``: the signal that asked for the stop.
    """

    def __init__(self, trainer) -> None:
        self.stop_signal: Optional[int] = None
        self.agreement: Optional[StopAgreement] = None  # set under DDP by :meth:`agree_per_step`
        super().__init__(trainer)

    @property
    def received_sigterm(self) -> bool:
        if self.agreement is not None:  # under DDP only the ranks' common decision stops a loop
            return self.agreement.agreed
        return self.stop_signal is not None and not self._evaluating_in_fit()

    @received_sigterm.setter
    def received_sigterm(self, value: bool) -> None:
        # Lightning resets the flag when each trainer.fit/validate/test starts, and its SIGTERM
        # handler sets it (other signals: request_stop).
        if not value:
            self.stop_signal = None
        elif self.stop_signal is None:
            self.stop_signal = signal.SIGTERM

    def request_stop(self, signum: int) -> None:
        """Ask the loops to stop after the current step (a handler of another signal calls this)."""
        if self.stop_signal is None:
            self.stop_signal = int(signum)

    def _sigterm_notifier_fn(self, signum, frame) -> None:
        # Lightning's also broadcasts from inside the handler under DDP: see StopAgreement.
        if self.stop_signal is None and self.trainer.strategy.launcher is not None:
            self.trainer.strategy.launcher.kill(signum)  # ranks this process launched get it too
        self.request_stop(signal.SIGTERM)

    def _evaluating_in_fit(self) -> bool:
        state = self.trainer.state
        return state.fn == TrainerFn.FITTING and state.stage in _EVALUATION_STAGES

    def pending_stop(self) -> int:
        """The signal this rank would stop for now (0: none, or deferred by a dev evaluation)."""
        return int(self.stop_signal or 0) if not self._evaluating_in_fit() else 0

    def agree_per_step(self) -> None:
        """Under DDP, make the training loop's per-step stop check a :class:`StopAgreement`.

        Lightning calls ``_broadcast_sigterm_tensor`` at the start of each training step when more
        than one rank runs; this replaces it on this trainer's loop.
        """
        loop = self.trainer.fit_loop.epoch_loop
        if not hasattr(loop, "_broadcast_sigterm_tensor"):
            raise RuntimeError(
                "this Lightning version's training loop has no _broadcast_sigterm_tensor: "
                "lit_srl.preemption.StopAgreement must be hooked elsewhere")
        self.agreement = StopAgreement(self)
        loop._broadcast_sigterm_tensor = self.agreement.step


class StopAgreement:
    """All DDP ranks stop before the same training step, without a device sync.

    At the start of each step every rank posts its pending stop signal (0 for none) to an
    asynchronous ``all_reduce(MAX)`` of one int64 on a gloo group of its own, and waits for the one
    it posted at the start of the previous step — done long since, since every rank has run a whole
    step (its gradient all-reduce included) after posting it. Nonzero: every rank takes that
    signal as its own and raises Lightning's ``SIGTERMException`` there, before the step. So a
    signal that reaches any rank during step ``s`` stops all of them after step ``s + 1``.
    """

    def __init__(self, connector: DeferredStopConnector) -> None:
        self.connector = connector
        self.agreed = False
        self._group = None
        self._pending: Optional[tuple] = None  # (work, flag) posted at the previous step's start

    def step(self) -> None:
        if self._group is None:  # every rank reaches its first step: a collective new_group is safe
            self._group = dist.new_group(backend="gloo")
        if self._pending is not None:
            agreed_signal = self.wait()
            if agreed_signal:
                if self.connector.stop_signal is None:
                    self.connector.stop_signal = agreed_signal
                self.agreed = True
                raise SIGTERMException
        flag = torch.tensor([self.connector.pending_stop()], dtype=torch.int64)
        self._pending = (dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group, async_op=True), flag)

    def wait(self) -> int:
        """The signal the ranks agreed on at the last post (0: none); nothing stays in flight."""
        if self._pending is None:
            return 0
        work, flag = self._pending
        self._pending = None
        work.wait()
        return int(flag[0])


def use_deferred_stop(trainer) -> DeferredStopConnector:
    """Give ``trainer`` a :class:`DeferredStopConnector` (before it registers its signal handlers)."""
    if not isinstance(trainer._signal_connector, DeferredStopConnector):
        trainer._signal_connector = DeferredStopConnector(trainer)
    return trainer._signal_connector


def stop_exit_code(trainer) -> int:
    """``128 + signal`` of the stop (SIGTERM when the trainer does not know which signal it was)."""
    connector = trainer._signal_connector
    signum = getattr(connector, "stop_signal", None) or signal.SIGTERM
    return 128 + int(signum)

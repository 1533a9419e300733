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
"""

from __future__ import annotations

import signal
from typing import Optional

from lightning.pytorch.trainer.connectors.signal_connector import _SignalConnector
from lightning.pytorch.trainer.states import RunningStage, TrainerFn

#: Signals that ask a fit to stop after its step: what schedulers send (SIGTERM; SIGUSR1/SIGUSR2
#: as time-limit warnings). Loader workers ignore them all.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
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
        super().__init__(trainer)

    @property
    def received_sigterm(self) -> bool:
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

    def _evaluating_in_fit(self) -> bool:
        state = self.trainer.state
        return state.fn == TrainerFn.FITTING and state.stage in _EVALUATION_STAGES


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

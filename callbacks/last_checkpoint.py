"""``last.ckpt``: a resumable checkpoint after every evaluation and when the job is told to stop."""

from __future__ import annotations

import logging
import os
import signal
from typing import Optional

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lit_srl.preemption import stop_exit_code, use_deferred_stop

log = logging.getLogger("lit_srl")


class LastCheckpoint(Checkpoint):
    """Keeps ``<checkpoint dir>/last.ckpt`` current, so ``--ckpt_path last``/``auto`` resumes a run.

    Written after every validation (ModelCheckpoint in Lightning 2.6 writes ``last`` only when it
    also saves a new best), every ``every_n_train_steps`` optimizer steps if set, at the end of
    training (so a stop during the test of ``fit --result`` reruns only the test), and on
    pre-emption.

    Pre-emption (:mod:`lit_srl.preemption`): SIGTERM — ``scontrol requeue``, SLURM pre-emption,
    ``kill`` — and the ``signals`` handled here (SIGUSR1, what SLURM sends ahead of a time limit
    with ``#SBATCH --signal=SIGUSR1@90``) ask the fit to stop; loader workers ignore them. The
    current step finishes, and so does a dev evaluation under way with its checkpoints; then
    Lightning raises its ``SIGTERMException`` and this callback writes ``last.ckpt`` from
    ``on_exception`` — unless it was just written at this step, after the evaluation: that file is
    the state Lightning resumes an evaluated step from. The process exits with ``128 + signal``
    (143 for SIGTERM): not finished, resume it. A stop during ``validate``/``test`` (the test of
    ``fit --result`` included) ends it at once with the same status; nothing of it is written.

    Ctrl-C in a terminal (SIGINT to the whole foreground group) stops the same way, with exit 130;
    a second Ctrl-C stops at once (:func:`ctrl_c_handler`).

    Under SLURM this callback owns SIGUSR1 even where Lightning's auto-requeue would take it:
    Lightning saves its ``hpc_ckpt`` from inside the signal handler, in the middle of whatever step
    is running, and the resumed run is not exact. Here the step finishes, ``last.ckpt`` is written,
    then rank 0 requeues the job (``scontrol requeue``, as Lightning would) and the requeued job
    resumes from ``last.ckpt`` (``fit`` resumes by itself when ``SLURM_RESTART_COUNT`` > 0) with
    the same batches, dropout masks and losses as an uninterrupted run. ``requeue=False`` only
    saves and stops. ``scontrol requeue`` itself sends SIGTERM: saved the same way.

    It subclasses ``Checkpoint`` so that Lightning runs it after ModelCheckpoint, whose best-model
    state the file then includes. The folder is ModelCheckpoint's, else the root directory.
    """

    def __init__(self, every_n_train_steps: Optional[int] = None, signals: tuple[str, ...] = ("SIGUSR1",),
                 requeue: bool = True) -> None:
        self.every_n_train_steps = every_n_train_steps
        self.signals = signals
        self.requeue = requeue
        self._previous: dict = {}
        self._in_slurm = False
        self._saved_step: Optional[int] = None  # global step of this process's latest last.ckpt

    # ------------------------------------------------------------------ signals
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        connector = use_deferred_stop(trainer)
        if stage != "fit" or os.name == "nt":
            return
        if trainer.world_size > 1:
            connector.agree_per_step()
        env = trainer._accelerator_connector.cluster_environment
        self._in_slurm = isinstance(env, SLURMEnvironment)
        for name in self.signals:
            signum = getattr(signal, name)

            def request_stop(received, frame):
                log.info("received %s: saving a checkpoint after this step", signal.Signals(received).name)
                connector.request_stop(received)

            # Set before Lightning registers its handlers (after setup), so it leaves SIGUSR1 to us.
            self._previous[signum] = signal.signal(signum, request_stop)
        # Ctrl-C, unless SIGINT is ignored (a job a shell script put in the background with `&`).
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, ctrl_c_handler(connector))

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.restore_signal_handlers()

    def restore_signal_handlers(self) -> None:
        """The handlers in place before :meth:`setup` (also on an exception: Lightning then skips teardown)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    # ------------------------------------------------------------------ saving
    def path(self, trainer: L.Trainer) -> str:
        folder = getattr(trainer.checkpoint_callback, "dirpath", None) or trainer.default_root_dir
        return os.path.join(folder, "last.ckpt")

    def save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path(trainer), weights_only=False)
        self._saved_step = trainer.global_step

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self.save(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        every = self.every_n_train_steps
        if every and trainer.global_step % every == 0:
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._saved_step != trainer.global_step:
            self.save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        try:
            self.save_on_stop(trainer, exception)
        finally:
            if not isinstance(exception, KeyboardInterrupt):  # Lightning ignores SIGINT while it shuts down
                self.restore_signal_handlers()

    def save_on_stop(self, trainer: L.Trainer, exception: BaseException) -> None:
        """After a stop signal: ``last.ckpt`` at the step reached, the exit status, a SLURM requeue."""
        if not isinstance(exception, SIGTERMException):
            return
        exception.code = stop_exit_code(trainer)  # SystemExit(None) would exit 0: "finished"
        name = signal.Signals(exception.code - 128).name
        if trainer.state.fn != "fit":
            log.info("stopped by %s during %s: nothing of it was written; run it again (exit %d)",
                     name, trainer.state.fn.value, exception.code)
            return
        if self._saved_step != trainer.global_step:
            self.save(trainer)
        log.info("stopped by %s after step %d: saved %s; rerun with --ckpt_path auto (or last) to resume (exit %d)",
                 name, trainer.global_step, self.path(trainer), exception.code)
        # SIGUSR1 is SLURM's time-limit warning: requeue (scontrol requeue's own SIGTERM needs none).
        # Under DDP the signal is the one the ranks agreed on, so rank 0 requeues even if it did
        # not get the signal itself.
        if self.requeue and self._in_slurm and exception.code == 128 + signal.SIGUSR1 and trainer.is_global_zero:
            requeue(slurm_job_id())


def ctrl_c_handler(connector):
    """SIGINT in a ``fit``: the first Ctrl-C stops the fit like SIGTERM (after the step, with
    ``last.ckpt``, exit 130); a second one while that stop is pending raises ``KeyboardInterrupt`` at
    once — Lightning's own path: exit 1, no new checkpoint, the last one written stays."""

    def interrupt(received, frame):
        if connector.stop_signal is not None:
            signal.default_int_handler(received, frame)
        log.warning("Ctrl-C: finishing this step and saving last.ckpt; "
                    "press Ctrl-C again to stop at once (the steps since the last checkpoint are lost)")
        connector.request_stop(received)

    return interrupt


def slurm_job_id() -> Optional[str]:
    """This job's id for ``scontrol`` (``<array job>_<task>`` for an array task)."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def requeue(job_id: str) -> None:
    """``scontrol requeue JOB``: SLURM ends this job and queues it again (it resumes from last.ckpt)."""
    import subprocess

    result = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    if result.returncode == 0:
        log.info("requeued SLURM job %s", job_id)
    else:
        log.error("scontrol requeue %s failed (%s); resume the run by resubmitting it", job_id, result.stderr.strip())

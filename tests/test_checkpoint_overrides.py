"""Options on the command line override a checkpoint, however the checkpoint is named.

``fit --ckpt_path FILE --model.lr=1e-7 --model.loss.init_args.temperature=0.5`` used to train with
the checkpoint's lr and τ (Lightning applied the file's hyperparameters over the command line), and
with every naming the optimizer's restored param groups and the scheduler's ``base_lrs`` kept the
checkpoint's lr. The learning rate the optimizer actually steps with and the loss's τ must be the
command line's.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from lit_srl.checkpoint import use_run_optimizer_settings
from support.helpers import fit_args, run_cli
from support.recorder import read_records

LR, TAU = 1e-7, 0.5


def probed_resume(root, tiny_bert, tiny_checkpoint, naming: str, monkeypatch) -> list[dict]:
    """Resume the 2-step ``tiny_checkpoint`` to step 4 with lr 1e-7 and τ 0.5 given on the command line."""
    ckpt = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, ckpt)
    log = root / "probe.jsonl"
    options = [f"--model.lr={LR}", f"--model.loss.init_args.temperature={TAU}",
               "--trainer.callbacks+=support.optimizer_probe.OptimizerProbe", f"--trainer.callbacks.path={log}"]
    if naming == "path":
        args = fit_args(root, str(tiny_bert), *options, f"--ckpt_path={ckpt}", steps=4, val_every=100)
    elif naming == "path_without_config":  # the config stored in the checkpoint, under the options
        args = ["fit", f"--ckpt_path={ckpt}", f"--trainer.default_root_dir={root}", "--trainer.max_steps=4",
                "--trainer.val_check_interval=100", "--trainer.enable_progress_bar=false", *options]
    elif naming == "hpc":  # Lightning's own SLURM checkpoint name, resolved by the trainer
        shutil.move(ckpt, root / "hpc_ckpt_1.ckpt")
        args = fit_args(root, str(tiny_bert), *options, "--ckpt_path=hpc", steps=4, val_every=100)
    elif naming == "requeue":  # a requeued SLURM job without --ckpt_path resumes as with auto
        monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
        args = fit_args(root, str(tiny_bert), *options, steps=4, val_every=100)
    else:
        args = fit_args(root, str(tiny_bert), *options, f"--ckpt_path={naming}", steps=4, val_every=100)
    assert run_cli(args) == 0
    return read_records(log)


@pytest.mark.parametrize("naming", ["path", "path_without_config", "last", "auto", "hpc", "requeue"])
def test_command_line_lr_and_temperature_win_over_the_checkpoint(naming, tiny_bert, tiny_checkpoint, tmp_path,
                                                                  monkeypatch):
    records = probed_resume(tmp_path, tiny_bert, tiny_checkpoint, naming, monkeypatch)
    assert [r["step"] for r in records] == [2, 3]  # resumed at step 2
    assert all(r["temperature"] == TAU for r in records)
    assert all(r["initial_lr"] == pytest.approx(LR) for r in records)
    # linear decay over 4 steps: step 3 steps with lr × (4 - 3) / 4 (the checkpoint's peak was 3e-5)
    assert records[1]["lr"] == pytest.approx(LR / 4)


def test_run_optimizer_settings_keep_the_place_on_the_schedule():
    """Peak lr, current lr (scaled), weight decay and the scheduler's base lr become the run's."""
    checkpoint = {
        "optimizer_states": [{"param_groups": [{"lr": 1.5e-5, "initial_lr": 3e-5, "weight_decay": 0.0}]}],
        "lr_schedulers": [{"base_lrs": [3e-5], "_last_lr": [1.5e-5]}],
    }
    use_run_optimizer_settings(checkpoint, lr=1e-4, weight_decay=0.01)
    group = checkpoint["optimizer_states"][0]["param_groups"][0]
    assert group == {"lr": pytest.approx(5e-5), "initial_lr": 1e-4, "weight_decay": 0.01}
    assert checkpoint["lr_schedulers"][0] == {"base_lrs": [1e-4], "_last_lr": [pytest.approx(5e-5)]}


def test_an_unchanged_lr_restores_the_checkpoints_optimizer_exactly():
    """Resuming without new options changes nothing: exact resume stays exact."""
    lr = torch.tensor(3e-5).item()
    current = lr * 0.37
    checkpoint = {"optimizer_states": [{"param_groups": [{"lr": current, "initial_lr": lr, "weight_decay": 0.0}]}],
                  "lr_schedulers": [{"base_lrs": [lr], "_last_lr": [current]}]}
    use_run_optimizer_settings(checkpoint, lr=lr, weight_decay=0.0)
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["lr"] == current
    assert checkpoint["lr_schedulers"][0]["_last_lr"] == [current]

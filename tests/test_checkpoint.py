"""Checkpoints from others run no code: every checkpoint is read with ``torch.load(weights_only=True)``.

A crafted checkpoint whose pickle calls ``exec`` on load must be refused by ``eval``, ``export``,
``fit --ckpt_path`` and :func:`lit_srl.checkpoint.check_resumable` with one ``error:`` line naming
the file, before any of its code runs; a truncated checkpoint gets one line too, not a traceback.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.helpers import REPO
from support.helpers import fit_args
from lit_srl.checkpoint import check_resumable, lightning_load_error, read_checkpoint
from lit_srl.cli import main
from lit_srl.errors import LitSrlError


class _Payload:
    """Unpickling this calls ``exec(code)``: what a malicious checkpoint does."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (builtins.exec, (self.code,))


def write_evil_checkpoint(path: Path, marker: Path, legacy: bool = False) -> Path:
    """A lit_srl-looking checkpoint whose unpickling creates ``marker``."""
    payload = _Payload(f"open({str(marker)!r}, 'w').write('code from the checkpoint ran')")
    ckpt = {
        "state_dict": {"encoder.x": torch.zeros(2)},
        "lit_srl": {"format_version": 1, "backbone": "x"},
        "loops": {},
        "optimizer_states": [],
        "pytorch-lightning_version": "2.6.0",
        "hyper_parameters": {"payload": payload},
    }
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture(params=["zip", "legacy"])
def evil(request, tmp_path) -> tuple[Path, Path]:
    """(crafted checkpoint, the marker file its code would create), in torch's zip or legacy format."""
    marker = tmp_path / "MARKER"
    return write_evil_checkpoint(tmp_path / "evil.ckpt", marker, legacy=request.param == "legacy"), marker


@pytest.fixture
def truncated(tiny_checkpoint, tmp_path) -> Path:
    """The first half of a real last.ckpt: what a crash while writing it leaves."""
    data = tiny_checkpoint.read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    return path


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def assert_one_error_line(text: str, path: Path, *words: str) -> str:
    """One ``error:`` line naming ``path``. (In-process, an unhandled exception fails the test by
    itself; Lightning's log handler may print "--- Logging error ---" into an earlier test's closed
    capture, so tracebacks are looked for in the subprocess tests only.)"""
    lines = error_lines(text)
    assert len(lines) == 1, text[-3000:]
    assert str(path) in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------- the payload is real
def test_the_payload_runs_code_when_loaded_without_weights_only(evil):
    path, marker = evil
    torch.load(path, map_location="cpu", weights_only=False)  # what eval/export used to do
    assert marker.exists()


# ---------------------------------------------------------------------- eval and export
def test_export_refuses_evil_checkpoint_without_running_it(evil, tmp_path, capsys):
    path, marker = evil
    out = tmp_path / "out"
    assert main(["export", str(path), str(out)]) == 2
    assert_one_error_line(capsys.readouterr().err, path, "no code in it ran", "exec")
    assert not marker.exists()
    assert not out.exists()


def test_eval_refuses_evil_checkpoint_without_running_it(evil, data_dir, capsys):
    path, marker = evil
    args = ["eval", "--model", str(path), "--tasks", "STSBenchmark", "--split", "dev", "--data-dir", str(data_dir)]
    assert main(args) == 2
    assert_one_error_line(capsys.readouterr().err, path, "no code in it ran")
    assert not marker.exists()


@pytest.mark.parametrize("command", ["eval", "export"])
def test_command_line_refuses_evil_checkpoint(command, data_dir, tmp_path):
    """``python -m lit_srl eval --model evil.ckpt`` / ``export evil.ckpt OUT`` as a new user runs them."""
    marker = tmp_path / "MARKER"
    path = write_evil_checkpoint(tmp_path / "evil.ckpt", marker)
    if command == "eval":
        args = ["eval", "--model", str(path), "--tasks", "STSBenchmark", "--split", "dev"]
    else:
        args = ["export", str(path), str(tmp_path / "out")]
    env = {**os.environ, "LIT_SRL_DATA": str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "lit_srl", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_one_error_line(proc.stderr, path, "no code in it ran")
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert not marker.exists()


def test_read_checkpoint_error_is_one_line(evil):
    path, marker = evil
    with pytest.raises(LitSrlError) as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04 half a zip"])
def test_junk_files_cannot_be_read(content, tmp_path):
    """Not a torch file at all: "cannot be read", not "holds Python objects"."""
    path = tmp_path / "junk.ckpt"
    path.write_bytes(content)
    with pytest.raises(LitSrlError, match=r"junk\.ckpt cannot be read: it is truncated or corrupt") as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value)


def test_eval_and_export_give_one_line_for_a_truncated_checkpoint(truncated, data_dir, tmp_path, capsys):
    args = ["eval", "--model", str(truncated), "--tasks", "STSBenchmark", "--split", "dev", "--data-dir", str(data_dir)]
    assert main(args) == 2
    assert_one_error_line(capsys.readouterr().err, truncated, "truncated or corrupt")
    assert main(["export", str(truncated), str(tmp_path / "out")]) == 2
    assert_one_error_line(capsys.readouterr().err, truncated, "truncated or corrupt")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------- fit --ckpt_path
def test_fit_refuses_evil_checkpoint_in_one_line(evil, tiny_bert, tmp_path, capsys):
    path, marker = evil
    assert main(fit_args(tmp_path / "run", str(tiny_bert), f"--ckpt_path={path}")) == 2
    assert_one_error_line(capsys.readouterr().err, path, "no code in it ran")
    # without --config: the config stored in the checkpoint is read first (run_config_args)
    assert main(["fit", "--ckpt_path", str(path)]) == 2
    assert_one_error_line(capsys.readouterr().err, path, "no code in it ran")
    assert not marker.exists()


def test_fit_and_test_give_one_line_for_a_truncated_checkpoint(truncated, tiny_bert, tmp_path, capsys):
    assert main(fit_args(tmp_path / "run", str(tiny_bert), f"--ckpt_path={truncated}")) == 2
    assert_one_error_line(capsys.readouterr().err, truncated, "truncated or corrupt")
    assert main(["fit", f"--ckpt_path={truncated}"]) == 2
    assert_one_error_line(capsys.readouterr().err, truncated, "truncated or corrupt")
    test_args = ["test", "--config", str(REPO / "configs" / "quickstart.yaml"), f"--model.backbone={tiny_bert}",
                 "--ckpt_path", str(truncated)]
    assert main(test_args) == 2
    assert_one_error_line(capsys.readouterr().err, truncated, "truncated or corrupt")


@pytest.mark.parametrize("kind", ["missing", "foreign"])
def test_fit_reports_lightnings_own_load_errors_in_one_line(kind, tiny_bert, data_dir, tmp_path, capsys):
    """Failures inside Lightning's resume_start (not LightningCLI's pre-read) get one line too."""
    path = tmp_path / f"{kind}.ckpt"
    if kind == "foreign":
        torch.save({"state_dict": {}}, path)  # readable, but no pytorch-lightning_version
    args = fit_args(tmp_path / "run", str(tiny_bert), f"--data.data_dir={data_dir}", f"--ckpt_path={path}")
    assert main(args) == 2
    words = ("does not exist",) if kind == "missing" else ("not a Lightning checkpoint",)
    assert_one_error_line(capsys.readouterr().err, path, *words)


def test_only_errors_of_lightnings_checkpoint_loading_are_shortened():
    """The same exception raised anywhere else (training itself) is not taken for a checkpoint error."""
    def training_step():
        raise RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory")

    with pytest.raises(RuntimeError) as info:
        training_step()
    assert lightning_load_error(info.value, "x.ckpt") is None


# --------------------------------------------------------------------------- check_resumable
def test_check_resumable_accepts_a_real_last_checkpoint(tiny_checkpoint):
    check_resumable(tiny_checkpoint)
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    rng = ckpt["lit_srl_train_state"]["rng"]
    assert isinstance(rng["numpy"][1], list)  # numpy's state as plain lists: weights_only loads take it
    for best in tiny_checkpoint.parent.glob("best-*.ckpt"):
        check_resumable(best)


def test_check_resumable_rejects_unreadable_evil_and_foreign_checkpoints(tiny_checkpoint, truncated, evil, tmp_path):
    evil_path, marker = evil
    full = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    no_optimizer = tmp_path / "weights_only.ckpt"
    torch.save({k: v for k, v in full.items() if k not in ("optimizer_states", "lr_schedulers")}, no_optimizer)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    cases = {
        truncated: "truncated or corrupt",
        evil_path: "no code in it ran",
        no_optimizer: "no optimizer_states",
        foreign: "not a Lightning training checkpoint",
        tmp_path / "missing.ckpt": "does not exist",
        tmp_path / "junk.ckpt": "cannot be read",
        tmp_path: "folder",
    }
    for path, words in cases.items():
        with pytest.raises(LitSrlError) as info:
            check_resumable(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message and words in message, message
    assert not marker.exists()

"""The runner of ``sweep run``: GPU slots, the output folder's lock, busy runs, per-run overhead.

The runner is what is tested here, so its fits are a stand-in program (``fake_fit``) that records
what the runner gave it and writes a ``result.json`` without training; real fits run in
tests/sweep/test_sweep.py and tests/faults/test_dead_runner.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from lit_srl.cli import main
from lit_srl.errors import LitSrlError
from lit_srl.run_lock import BUSY_EXIT, RunLock
from lit_srl.sweep.plan import make_plan
from lit_srl.sweep.runner import SweepRunner
from lit_srl.sweep.spec import load_sweep
from lit_srl.sweep.standby import STANDBY, Standby
from support.helpers import fit_args
from support.sweep_helpers import attempts, config, tiny_settings, write_sweep

FAKE_FIT = '''#!{python}
"""Stand-in for `python -m lit_srl fit ... --result=PATH`: records its start, then (FAKE_PEERS)
waits until that many fits have started (FAKE_GO: until that file exists; FAKE_HOLD: only the run of
that name waits for it), exits FAKE_EXIT, writing result.json on 0. Started as a standby
(LIT_SRL_STANDBY=FD, no arguments) it says it is ready on FD (and in a file STARTS.ready.PID), then
takes its arguments from the runner's order. FAKE_AWAIT_READY=run:N,...: that run ends only once N
standbys have said they are ready."""
import glob, json, os, sys, time
args = sys.argv[3:]
standby = "LIT_SRL_STANDBY" in os.environ
if standby:
    ready = int(os.environ["LIT_SRL_STANDBY"])
    try:
        os.write(ready, b"1")
    except BrokenPipeError:  # handed its run already: the runner closed its end
        pass
    os.close(ready)
    open(os.environ["FAKE_STARTS"] + ".ready." + str(os.getpid()), "w").close()
    line = sys.stdin.readline()
    if not line.strip():
        sys.exit(0)
    args = json.loads(line)["argv"]
result = next(a.split("=", 1)[1] for a in args if a.startswith("--result="))
run = os.path.basename(os.path.dirname(result))
starts = os.environ["FAKE_STARTS"]
with open(starts, "a") as f:
    f.write(json.dumps({{"run": run,
                         "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
                         "runner": os.environ.get("LIT_SRL_RUNNER_PID"), "standby": standby}}) + "\\n")
deadline = time.time() + 60
await_ready = dict(x.split(":") for x in os.environ.get("FAKE_AWAIT_READY", "").split(",") if x)
while time.time() < deadline and (
        len(glob.glob(starts + ".ready.*")) < int(await_ready.get(run, 0)) or
        len(open(starts).read().splitlines()) < int(os.environ.get("FAKE_PEERS", "0"))
        or (os.environ.get("FAKE_GO") and os.environ.get("FAKE_HOLD", run) == run
            and not os.path.exists(os.environ["FAKE_GO"]))):
    time.sleep(0.05)
code = int(os.environ.get("FAKE_EXIT", "0"))
if code == 0:
    with open(result, "w") as f:
        json.dump({{"train": {{"fit_seconds": 0.0, "test_seconds": 0.0}}}}, f)
sys.exit(code)
'''


@pytest.fixture
def fake_fit(tmp_path, monkeypatch) -> str:
    path = tmp_path / "fake_python"
    path.write_text(FAKE_FIT.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_STARTS", str(tmp_path / "starts.jsonl"))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    return str(path)


def starts(tmp_path) -> list[dict]:
    path = tmp_path / "starts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def sweep_log():
    """What the runner logs (lit_srl's logger does not propagate to pytest's)."""
    stream, logger = io.StringIO(), logging.getLogger("lit_srl")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def two_runs(tmp_path, tiny_bert):
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": tiny_settings(tiny_bert), "grid": {"seed_everything": [1, 2]}})
    return path, make_plan(load_sweep(path), tmp_path / "out")


def test_more_slots_than_gpu_places_stops_the_sweep_before_any_run(tmp_path, tiny_bert, fake_fit, monkeypatch):
    _, planned = two_runs(tmp_path, tiny_bert)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(LitSrlError, match="1 GPU visible .* pass --runs-per-gpu 2"):
        SweepRunner(planned, tmp_path / "out", jobs=2, python=fake_fit).run(baseline=False)
    assert starts(tmp_path) == [] and not any(attempts(tmp_path / "out", p.name) for p in planned)


def test_runs_on_the_cpu_accelerator_are_placed_on_cores_whatever_gpus_are_visible(tmp_path, tiny_bert, fake_fit,
                                                                                      monkeypatch):
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")],
        "set": {**tiny_settings(tiny_bert), "trainer.accelerator": "cpu", "trainer.devices": 2},
        "grid": {"seed_everything": [1, 2]}})
    planned = make_plan(load_sweep(path), tmp_path / "out")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # one GPU: too few for 2 slots × 2 devices on GPUs
    runner = SweepRunner(planned, tmp_path / "out", jobs=2, python=fake_fit)
    runner.place(2, gpu=any(p.uses_gpu() for p in planned))
    assert [slot.gpus for slot in runner._slots] == [(), ()]


def test_runs_per_gpu_runs_two_fits_at_once_on_one_gpu_and_records_their_overhead(
        tmp_path, tiny_bert, fake_fit, monkeypatch, sweep_log):
    _, planned = two_runs(tmp_path, tiny_bert)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("FAKE_PEERS", "2")  # each fake fit waits until both have started
    runner = SweepRunner(planned, tmp_path / "out", jobs=2, runs_per_gpu=2, python=fake_fit)
    assert runner.run(baseline=False) == 0
    assert sorted((s["run"], s["gpus"]) for s in starts(tmp_path)) == [("seed1", "0"), ("seed2", "0")]
    assert {s["runner"] for s in starts(tmp_path)} == {str(os.getpid())}  # tethered to this runner
    for p in planned:
        record = json.loads(p.result_path.read_text())["runner"]
        # the stand-in measured no fit or test time: all of its wall time is overhead
        assert record["overhead_seconds"] == pytest.approx(record["wall_seconds"] + record["tidy_seconds"])
        assert record["wall_seconds"] == pytest.approx(attempts(tmp_path / "out", p.name)[0]["wall_seconds"])
    assert "per-run overhead (wall time outside fit and test), started cold: mean" in sweep_log.getvalue()


def test_a_fit_that_loses_the_race_for_its_folder_leaves_the_run_busy_not_failed(tmp_path, tiny_bert, fake_fit,
                                                                                 monkeypatch):
    _, planned = two_runs(tmp_path, tiny_bert)
    monkeypatch.setenv("FAKE_EXIT", str(BUSY_EXIT))
    runner = SweepRunner(planned[:1], tmp_path / "out", python=fake_fit)
    assert runner.run(baseline=False) == 1 and runner.status == {"seed1": "busy"}
    assert not (planned[0].folder / "failure.json").exists()


def test_a_second_sweep_run_on_a_folder_in_use_refuses_in_one_line_and_the_first_finishes(
        tmp_path, tiny_bert, fake_fit, monkeypatch, capsys):
    path, planned = two_runs(tmp_path, tiny_bert)
    go = tmp_path / "go"
    monkeypatch.setenv("FAKE_GO", str(go))  # the first runner's fits wait until the second has tried
    first = SweepRunner(planned, tmp_path / "out", python=fake_fit)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(first.run(baseline=False)))
    thread.start()
    try:
        while not starts(tmp_path):  # the first runner has started its first fit
            assert thread.is_alive(), codes
            thread.join(0.05)
        capsys.readouterr()  # the first runner's progress so far
        assert main(["sweep", "run", str(path), "--output-dir", str(tmp_path / "out"), "--no-baseline"]) != 0
        # what the second printed; the first runner (a thread here) may log "seed1: …" meanwhile
        err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith(("seed1: ", "seed2: "))]
        assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'out'} is in use by another sweep run "
                                                   f"(pid {os.getpid()} on "), err
        assert len(starts(tmp_path)) == 1  # the second started nothing
    finally:
        go.touch()
        thread.join(120)
    assert codes == [0] and sorted(s["run"] for s in starts(tmp_path)) == ["seed1", "seed2"]


def test_a_fit_refuses_a_run_folder_another_fit_holds_in_one_line(tmp_path, tiny_bert, capsys):
    run = tmp_path / "run"
    held = RunLock(run)
    assert held.acquire()
    held.mark_holder()
    try:
        code = main(fit_args(run, str(tiny_bert), f"--result={run / 'result.json'}"))
    finally:
        held.release()
    assert code == BUSY_EXIT
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"error: run folder {run} is in use by another fit (pid {os.getpid()} "), err
    assert sorted(p.name for p in Path(run).iterdir()) == [".lock"]  # nothing else written


def test_the_end_of_a_fit_with_a_loader_worker_is_far_under_torchs_5_s_worker_wait(tmp_path, tiny_bert, data_dir):
    """``train.end_of_fit_seconds``: training ended → ``trainer.fit`` returned (worker shutdown,
    loggers closed). torch waits up to 5 s for a worker that does not stop; the bound is generous."""
    import torch

    run = tmp_path / "run"
    assert main(fit_args(run, str(tiny_bert), f"--result={run / 'result.json'}", "--data.num_workers=1",
                         "--data.test_tasks=[STSBenchmark]", steps=2, val_every=2)) == 0
    record = json.loads((run / "result.json").read_text())
    assert 0 < record["train"]["end_of_fit_seconds"] < 2.5
    assert record["train"]["end_of_fit_seconds"] < record["train"]["fit_seconds"]
    if not torch.cuda.is_available():
        assert record["gpu"] is None  # no made-up numbers on a CPU


def three_runs(tmp_path, tiny_bert, grid: dict):
    path = write_sweep(tmp_path / "s.yaml", {"configs": [config("quickstart.yaml")], "set": tiny_settings(tiny_bert),
                                             "grid": grid})
    return make_plan(load_sweep(path), tmp_path / "out")


def test_each_run_after_a_slots_first_starts_warm_in_the_process_that_imported_while_the_one_before_ran(
        tmp_path, tiny_bert, fake_fit, monkeypatch, sweep_log):
    planned = three_runs(tmp_path, tiny_bert, {"seed_everything": [1, 2, 3]})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("FAKE_AWAIT_READY", "seed1:1,seed2:2")  # each run ends after the next one's standby is ready
    runner = SweepRunner(planned, tmp_path / "out", python=fake_fit)
    assert runner.run(baseline=False) == 0
    assert [(s["run"], s["gpus"], s["standby"]) for s in starts(tmp_path)] == [
        ("seed1", "0", False), ("seed2", "0", True), ("seed3", "0", True)]
    assert {s["runner"] for s in starts(tmp_path)} == {str(os.getpid())}  # a standby is tethered too
    for p, warm in zip(planned, (False, True, True)):
        (attempt,) = attempts(tmp_path / "out", p.name)
        assert attempt["standby"] is warm
        assert attempt["warm_start"] is warm  # its standby had said it was ready
        assert json.loads(p.result_path.read_text())["runner"]["warm_start"] is warm
    assert runner._standbys == {}  # none started for a run that does not exist
    assert re.search(r"seed2: finished in \d+ s \([\d.]+ s outside fit and test, warm start\)", sweep_log.getvalue())
    assert re.search(r"seed1: finished in \d+ s \([\d.]+ s outside fit and test\)", sweep_log.getvalue())
    assert re.search(r"started warm: mean [\d.]+ s, max [\d.]+ s over 2 run\(s\)", sweep_log.getvalue())
    assert re.search(r"started cold: mean [\d.]+ s, max [\d.]+ s over 1 run\(s\)", sweep_log.getvalue())


def test_the_slot_free_first_takes_the_standby_another_slot_started(tmp_path, tiny_bert, fake_fit, monkeypatch):
    planned = three_runs(tmp_path, tiny_bert, {"seed_everything": [1, 2, 3]})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # both slots on GPU 0: one environment
    go = tmp_path / "go"
    monkeypatch.setenv("FAKE_GO", str(go))
    monkeypatch.setenv("FAKE_HOLD", "seed1")  # seed1 runs until seed3 has started
    runner = SweepRunner(planned, tmp_path / "out", jobs=2, runs_per_gpu=2, python=fake_fit)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(runner.run(baseline=False)))
    thread.start()
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(starts(tmp_path)) < 3:
            thread.join(0.05)
    finally:
        go.touch()
        thread.join(60)
    assert codes == [0]
    warm = {s["run"]: s["standby"] for s in starts(tmp_path)}
    # seed1 and seed2 start together: whichever slot starts second may already take the standby the
    # first one started; seed3, after seed2, always finds one (its slot's own, or seed1's slot's)
    assert warm["seed3"] is True and not (warm["seed1"] and warm["seed2"]), warm


def test_a_slot_whose_standby_has_another_environment_ends_it_and_takes_another_slots_of_its_own(tmp_path):
    class Idle:  # a stand-in standby: what it was given, whether it was ended
        def __init__(self, gpus: str) -> None:
            self.env, self.given, self.ended = {"CUDA_VISIBLE_DEVICES": gpus}, None, False

        def take(self, argv, log, env):
            self.given = argv
            return "its process"

        def end(self) -> None:
            self.ended = True

    runner = SweepRunner([], tmp_path / "out")
    own, other = Idle("1"), Idle("0")
    runner._standbys = {0: other, 1: own}
    assert runner._hand_to_standby(1, ["fit"], tmp_path / "fit.log", {"CUDA_VISIBLE_DEVICES": "0"}) is other
    assert own.ended and own.given is None and other.given == ["fit"] and runner._standbys == {}
    assert runner._hand_to_standby(0, ["fit"], tmp_path / "fit.log", {"CUDA_VISIBLE_DEVICES": "0"}) is None


def test_cold_start_starts_every_run_in_a_process_of_its_own(tmp_path, tiny_bert, fake_fit):
    planned = three_runs(tmp_path, tiny_bert, {"seed_everything": [1, 2, 3]})
    assert SweepRunner(planned, tmp_path / "out", python=fake_fit, warm_start=False).run(baseline=False) == 0
    assert [s["standby"] for s in starts(tmp_path)] == [False, False, False]


def test_a_run_needing_other_gpus_than_the_standby_got_starts_cold_and_the_standby_ends(
        tmp_path, tiny_bert, fake_fit, monkeypatch):
    planned = three_runs(tmp_path, tiny_bert, {"trainer.devices": [1, 2]})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    ended, end = [], Standby.end
    monkeypatch.setattr(Standby, "end", lambda self: ended.append(self.process.pid) or end(self))
    assert SweepRunner(planned, tmp_path / "out", python=fake_fit).run(baseline=False) == 0
    assert [(s["gpus"], s["standby"]) for s in starts(tmp_path)] == [("0", False), ("0,1", False)]
    assert len(ended) == 1


def test_stopping_the_runner_ends_the_standby_with_the_running_fit(tmp_path, tiny_bert, fake_fit, monkeypatch):
    planned = three_runs(tmp_path, tiny_bert, {"seed_everything": [1, 2]})
    monkeypatch.setenv("FAKE_GO", str(tmp_path / "never"))  # the first fit waits until stopped
    runner = SweepRunner(planned, tmp_path / "out", python=fake_fit)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(runner.run(baseline=False)))
    thread.start()
    deadline = time.time() + 60
    while time.time() < deadline and not (starts(tmp_path) and runner._standbys):
        time.sleep(0.05)
    (standby,) = runner._standbys.values()
    runner.stop(signal.SIGTERM)
    thread.join(60)
    assert codes == [128 + signal.SIGTERM] and runner.status == {"seed1": "stopped", "seed2": "not started"}
    assert standby.process.returncode is not None and runner._standbys == {}
    assert [s["run"] for s in starts(tmp_path)] == ["seed1"]


def until(condition, timeout: float = 120) -> bool:
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.processes
def test_a_standby_becomes_the_command_it_is_given_with_its_early_output_first_in_the_log(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("print('printed before the run was known')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    standby = Standby(sys.executable, env)
    log = tmp_path / "run.log"
    try:
        assert not standby.ready()  # importing torch, transformers and Lightning takes seconds
        assert until(standby.ready)
        process = standby.take(["no-such-command"], log, env)
        assert process is standby.process and standby.ready_at_handover is True  # a warm start
        assert process.wait(120) == 2  # the command's exit status
    finally:
        standby.end()  # (a no-op unless the test failed with it alive)
    lines = log.read_text().splitlines()
    assert lines[0] == "printed before the run was known"
    assert lines[1].startswith("error: unknown command 'no-such-command'; valid commands: fit, ")


@pytest.mark.processes
def test_a_standby_handed_its_run_while_importing_runs_it_but_not_as_a_warm_start(tmp_path):
    env = dict(os.environ)
    standby = Standby(sys.executable, env)
    try:
        process = standby.take(["no-such-command"], tmp_path / "run.log", env)
        assert standby.ready_at_handover is False and process.wait(120) == 2
    finally:
        standby.end()
    assert (tmp_path / "run.log").read_text().startswith("error: unknown command 'no-such-command'")


@pytest.mark.processes
def test_a_standby_offered_another_environment_ends_and_one_at_end_of_input_runs_nothing(tmp_path):
    env = dict(os.environ)
    offered, idle = Standby(sys.executable, env), Standby(sys.executable, env)
    try:
        assert offered.take(["--help"], tmp_path / "a.log", {**env, "CUDA_VISIBLE_DEVICES": "1"}) is None
        assert offered.process.returncode is not None and not (tmp_path / "a.log").exists()
        idle.process.stdin.close()
        assert idle.process.wait(120) == 0
    finally:
        offered.end(), idle.end()  # (no-ops unless the test failed with them alive)


@pytest.mark.processes
def test_a_standby_given_a_malformed_order_stops_with_one_line():
    import subprocess

    ready_read, ready_write = os.pipe()
    try:
        proc = subprocess.run([sys.executable, "-m", "lit_srl"], input=b"fit --config x.yaml\n", capture_output=True,
                              env={**os.environ, STANDBY: str(ready_write), "PYTHONWARNINGS": "ignore"},
                              pass_fds=(ready_write,), timeout=120)
    finally:
        os.close(ready_read), os.close(ready_write)
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert err[0].startswith("error: LIT_SRL_STANDBY makes python -m lit_srl wait for sweep run's order")
    assert err[0].endswith("got b'fit --config x.yaml\\n'")


def test_a_standby_variable_that_names_no_pipe_is_one_line():
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "lit_srl", "fit", "--help"], capture_output=True,
                          env={**os.environ, STANDBY: "1"}, timeout=120)
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and err == [
        "error: LIT_SRL_STANDBY=1 is for sweep run's standby processes and must name the file descriptor of an "
        "inherited pipe; unset it to run python -m lit_srl"], proc.stderr


def test_a_standby_that_cannot_start_leaves_the_next_run_to_start_cold(tmp_path, tiny_bert, fake_fit, monkeypatch,
                                                                       sweep_log):
    def refused(self, python, env):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(Standby, "__init__", refused)
    planned = three_runs(tmp_path, tiny_bert, {"seed_everything": [1, 2]})
    assert SweepRunner(planned, tmp_path / "out", python=fake_fit).run(baseline=False) == 0
    assert [s["standby"] for s in starts(tmp_path)] == [False, False]
    assert "no warm start for slot 0's next run: [Errno 11] Resource temporarily unavailable" in sweep_log.getvalue()

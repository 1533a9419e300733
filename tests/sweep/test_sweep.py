"""Sweeps of ordinary fits: sweep files, plans, the runner (resume, skip, locks, Ctrl-C) and result.json."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time

import pytest
import torch

from lit_srl.cli import main, resolve_fit_config
from lit_srl.errors import LitSrlError
from lit_srl.sweep.plan import make_plan
from lit_srl.sweep.runner import RunLock, SweepRunner
from lit_srl.sweep.spec import load_sweep
from support.helpers import read_scalars
from support.recorder import read_records
from support.sweep_helpers import (REPO, attempts, config, recorder_settings, result, sweep_cmd, sweep_popen,
                                   tiny_settings, write_sweep)


def test_grids_and_explicit_runs_expand_to_stable_named_runs(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")],
        "set": {"trainer.max_steps": 5},
        "grid": [
            {"objective": {"infonce": [config("loss/infonce.yaml")], "sg": [config("loss/sg.yaml")]},
             "seed_everything": [1, 2]},
            {"label": "sgm", "model.loss.init_args.gd_margin": [0.1, 1.0]},
        ],
        "runs": [{"name": "no_gate", "configs": [config("loss/sg.yaml")], "set": {"model.loss.init_args.gd": "none"}}],
    })
    sweep = load_sweep(path)
    names = [r.name for r in sweep.runs]
    assert names == ["infonce_seed1", "infonce_seed2", "sg_seed1", "sg_seed2", "sgm_gd_margin0.1", "sgm_gd_margin1",
                     "no_gate"]
    assert names == [r.name for r in load_sweep(path).runs]  # stable
    sg2 = sweep.runs[3]
    assert sg2.configs == (config("quickstart.yaml"), config("loss/sg.yaml"))
    assert sg2.overrides == (("trainer.max_steps", 5), ("seed_everything", 2))
    assert sg2.fit_args()[-2:] == ["--trainer.max_steps=5", "--seed_everything=2"]
    assert sweep.runs[5].axes == {"label": "sgm", "model.loss.init_args.gd_margin": 1.0}
    assert sweep.runs[6].fit_args()[-1] == "--model.loss.init_args.gd=none"
    assert sweep.runs[6].axes == {"label": "no_gate"}
    assert sweep.name == "s"


@pytest.mark.parametrize("body, message", [
    ({"grid": {"seed_everything": [1]}, "sets": {}}, "unknown key 'sets'"),
    ({"grid": {}}, "grid is empty"),
    ({"grid": []}, "grid is an empty list"),
    ({"configs": []}, "no runs"),
    ({"grid": {"seed_everything": []}}, "axis 'seed_everything' must be a non-empty list"),
    ({"configs": ["configs/nope.yaml"], "grid": {"seed_everything": [1]}}, "config file configs/nope.yaml does not exist"),
    ({"grid": {"seed_everything": [1]}, "runs": [{"name": "seed1"}]}, "two runs are named 'seed1'"),
    ({"runs": [{"name": "a", "seed": 1}]}, "runs[0] has unknown key 'seed'"),
])
def test_a_bad_sweep_file_is_one_line_naming_the_thing(tmp_path, capsys, body, message):
    path = write_sweep(tmp_path / "bad.yaml", body)
    assert main(["sweep", "plan", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_key_the_cli_does_not_know_stops_the_sweep_before_any_run(tmp_path, capsys, tiny_bert):
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": tiny_settings(tiny_bert),
        "grid": {"model.loss.init_args.gd_margin": [0.1, 0.3]},  # InfoNCE has no gd_margin
    })
    assert main(["sweep", "run", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run gd_margin0.1" in err[0] and "gd_margin" in err[0], err
    assert not (tmp_path / "out").exists()


def test_plan_lists_each_run_with_its_exact_fit_command(tmp_path, capsys, tiny_bert):
    out = tmp_path / "out"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": tiny_settings(tiny_bert),
        "grid": {"objective": {"infonce": [config("loss/infonce.yaml")], "mpt": [config("loss/mpt.yaml")]}},
    })
    assert main(["sweep", "plan", str(path), "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    plan = json.loads((out / "plan.json").read_text())
    assert [r["name"] for r in plan["runs"]] == ["infonce", "mpt"]
    for run in plan["runs"]:
        assert run["command"] in text
        args = shlex.split(run["command"])
        assert args[:4] == ["python", "-m", "lit_srl", "fit"]
        assert f"--trainer.default_root_dir={out / 'runs' / run['name']}" in args and "--ckpt_path=auto" in args
        # the resolved config written for the run is what its command resolves to
        import yaml

        written = yaml.safe_load((out / "runs" / run["name"] / "config.yaml").read_text())
        assert written == resolve_fit_config(args[4:])
    assert "lit_srl.losses.MPT" in (out / "runs" / "mpt" / "config.yaml").read_text()
    assert "python -m lit_srl eval --model" in text  # the untrained backbone's baseline


@pytest.mark.processes
def test_runner_resumes_a_killed_run_skips_finished_ones_and_records_results(tmp_path, tiny_bert, data_dir):
    out, log = tmp_path / "out", tmp_path / "batches.jsonl"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": tiny_settings(tiny_bert, steps=6, val_every=3),
        "runs": [
            {"name": "crash", "set": {**recorder_settings(log, signal_at=5), "seed_everything": 1}},
            {"name": "plain", "set": {"seed_everything": 2}},
        ],
    })
    first = sweep_cmd("run", str(path), "--output-dir", str(out))
    assert first.returncode == 1, first.stdout + first.stderr  # one run failed, the others went on
    assert "crash: failed" in first.stderr
    failure = json.loads((out / "runs" / "crash" / "failure.json").read_text())
    assert failure["returncode"] == -9
    assert (out / "runs" / "plain" / "result.json").is_file()
    assert (out / "baselines").is_dir() and list((out / "baselines").glob("*.json"))
    # the baseline's eval started cold; each run after it was handed to a process that had imported
    # while the one before ran (warm start): its log has what that process printed, then the fit's
    assert [a["standby"] for a in attempts(out, "crash") + attempts(out, "plain")] == [True, True]
    assert result(out, "plain")["runner"]["warm_start"] is attempts(out, "plain")[0]["warm_start"]
    plain_log = (out / "runs" / "plain" / "fit.log").read_text().splitlines()
    assert plain_log[1].startswith("# ") and " -m lit_srl fit --config " in plain_log[1]
    assert plain_log[2] == "Seed set to 2" and "`Trainer.fit` stopped: `max_steps=6` reached." in plain_log

    # the crash also left a truncated last.ckpt: the rerun warns and resumes from the newest
    # readable checkpoint (the best one, of step 3)
    (last,) = (out / "runs" / "crash").rglob("last.ckpt")
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    second = sweep_cmd("run", str(path), "--output-dir", str(out))
    assert second.returncode == 0, second.stdout + second.stderr
    fit_log = (out / "runs" / "crash" / "fit.log").read_text()
    assert f"warning: checkpoint {last} cannot be read" in fit_log and "resuming from" in fit_log
    assert len(attempts(out, "plain")) == 1  # finished: skipped
    assert len(attempts(out, "crash")) == 2
    assert not (out / "runs" / "crash" / "failure.json").exists()
    steps = [r["step"] for r in read_records(log)]
    assert steps == [1, 2, 3, 4, 5, 4, 5, 6]  # killed after step 5, resumed from the checkpoint of step 3

    record = result(out, "crash")
    assert set(record["scores"]) == {"STSBenchmark", "avg"}
    assert record["selection"]["best_step"] in (3, 6)
    assert [s for s, _ in record["selection"]["dev_curve"]] == [3, 6]
    assert record["train"]["steps"] == 6 and record["train"]["seconds_per_step"] > 0
    assert record["monitor"]["gd_mean"] is not None and record["monitor"]["cos_pos_mean"] is not None
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if head.returncode == 0:
        assert record["git"]["commit"] == head.stdout.strip() and isinstance(record["git"]["dirty"], bool)
    else:  # a copy of the tree without .git (the GPU test machine's)
        assert record["git"] == {"commit": None, "dirty": None}
    assert {"torch", "lightning", "transformers"} <= set(record["versions"]) and record["host"] and record["device"]
    # the recorded command re-creates the same resolved config
    args = shlex.split(record["command"])
    assert args[:4] == ["python", "-m", "lit_srl", "fit"]
    assert resolve_fit_config(args[4:]) == {k: v for k, v in record["config"].items() if k != "result"}
    # disk: best weights only, no resumable state
    run_dir = out / "runs" / "crash"
    assert not list(run_dir.rglob("last*.ckpt"))
    bests = sorted(run_dir.rglob("best-*.ckpt"))
    assert len(bests) == 1, bests  # ModelCheckpoint's top 1, slimmed to weights
    best = bests[0]
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    assert "optimizer_states" not in ckpt and "lit_srl" in ckpt and ckpt["state_dict"]
    # TensorBoard's HPARAMS dashboard gets the run's settings and scores
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for events in run_dir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        try:
            tags.update(acc.PluginTagToContent("hparams"))
        except KeyError:  # an event file without hparams
            pass
    assert "_hparams_/session_start_info" in tags and "_hparams_/experiment" in tags
    # one step count and one scale: TensorBoard's dev points at the dev curve's steps (optimizer
    # steps done, the checkpoint's step), hp/* as Spearman ρ like val/* and test/* (result.json ×100)
    plain, scalars = result(out, "plain"), read_scalars(out / "runs" / "plain")
    dev = scalars["val/stsb_spearman"]
    assert [s for s, _ in dev] == [s for s, _ in plain["selection"]["dev_curve"]] == [3, 6]
    assert f"step{plain['selection']['best_step']}" in plain["selection"]["checkpoint"]
    assert scalars["hp/best_dev"][0][1] == pytest.approx(plain["selection"]["best_dev"]) == pytest.approx(max(v for _, v in dev))
    assert scalars["hp/test_stsb"][0][1] == pytest.approx(scalars["test/stsb_spearman"][0][1])
    assert scalars["hp/test_avg"][0][1] == pytest.approx(plain["scores"]["avg"] / 100)
    report = sweep_cmd("report", str(out), "--output", str(tmp_path / "R.md"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "R.md").read_text()
    assert "| crash | " in text and "| plain | " in text and "| untrained (" in text


@pytest.mark.processes
def test_ctrl_c_leaves_the_run_resumable_and_the_rerun_replays_it_exactly(tmp_path, tiny_bert, data_dir):
    out, log = tmp_path / "out", tmp_path / "batches.jsonl"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml")],
        "set": {**tiny_settings(tiny_bert, steps=40, val_every=20), **recorder_settings(log)},
        "runs": [{"name": "long"}],
    })
    runner = sweep_popen("run", str(path), "--output-dir", str(out), "--no-baseline")
    deadline = time.time() + 300
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.2)
    runner.send_signal(signal.SIGINT)
    output, _ = runner.communicate(timeout=300)
    assert runner.returncode == 130, output
    (last,) = (out / "runs" / "long").rglob("last.ckpt")
    stopped_at = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert 3 <= stopped_at < 40
    assert not (out / "runs" / "long" / "failure.json").exists()

    rerun = sweep_cmd("run", str(path), "--output-dir", str(out), "--no-baseline")
    assert rerun.returncode == 0, rerun.stderr
    steps = [r["step"] for r in read_records(log)]
    assert steps == list(range(1, stopped_at + 1)) + list(range(stopped_at + 1, 41))


def test_a_locked_run_is_busy_not_run_twice(tmp_path, tiny_bert):
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": tiny_settings(tiny_bert), "runs": [{"name": "one"}]})
    (planned,) = make_plan(load_sweep(path), tmp_path / "out")
    held = RunLock(planned.folder)
    assert held.acquire()
    try:
        runner = SweepRunner([planned], tmp_path / "out", python="/bin/false")
        assert runner.run_one(planned, 0) == "busy"
        assert runner.run(baseline=False) == 1
        assert not (planned.folder / "attempts.jsonl").exists()
    finally:
        held.release()
    assert RunLock(planned.folder).acquire()


def test_slurm_script_has_one_array_task_per_run_and_the_requeue_settings(tmp_path, tiny_bert, capsys):
    out = tmp_path / "out"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("trainer/ddp.yaml")],
        "set": {**tiny_settings(tiny_bert), "trainer.devices": 2, "trainer.accelerator": "cpu"},
        "grid": {"seed_everything": [1, 2, 3]},
    })
    assert main(["sweep", "slurm", str(path), "--output-dir", str(out), "--partition", "debug", "--time=01:00:00"]) == 0
    printed = capsys.readouterr().out
    script = (out / "sweep.sbatch").read_text()
    assert f"sbatch {out / 'sweep.sbatch'}" in printed
    for line in ("#SBATCH --array=0-3", "#SBATCH --signal=SIGUSR1@90", "#SBATCH --requeue",
                 "#SBATCH --ntasks-per-node=2", "#SBATCH --nodes=1", "#SBATCH --partition=debug", "#SBATCH --time=01:00:00"):
        assert line in script
    assert "RUNS=(seed1 seed2 seed3 baseline)" in script
    assert f"sweep task {out.resolve()}" in script and '"$RUN"' in script


def test_only_selects_runs_by_name_or_pattern(tmp_path, tiny_bert):
    from lit_srl.sweep.command import select

    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": tiny_settings(tiny_bert), "grid": {"seed_everything": [1, 2]}})
    planned = make_plan(load_sweep(path), tmp_path / "out")
    assert select(planned, "*1,baseline") == ["seed1", "baseline"]
    with pytest.raises(LitSrlError, match="matches no run"):
        select(planned, "seed9")


def test_a_truncated_last_checkpoint_at_resume_is_one_line_naming_it(tmp_path, tiny_checkpoint, tiny_bert, capsys):
    import shutil

    from support.helpers import fit_args

    run = tmp_path / "run"
    shutil.copytree(tiny_checkpoint.parents[3], run)
    (last,) = run.rglob("last.ckpt")
    last.write_bytes(last.read_bytes()[:1000])
    assert main(fit_args(run, str(tiny_bert), "--model.pooler=avg", "--ckpt_path=last", steps=4, val_every=2)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and str(last) in err[0] and "cannot be read" in err[0], err


def _fixture_sweep(folder, runs: dict, baseline_avg: float = 0.70) -> None:
    """A sweep folder as the runner leaves it: plan.json, baselines, result.json / failure.json."""
    from lit_srl.sweep.record import write_json

    base = folder / "baselines" / "tiny_avg.json"
    write_json(base, {"STSBenchmark": {"spearman": baseline_avg}, "avg": baseline_avg})
    plan = []
    for name, (axes, outcome) in runs.items():
        plan.append({"name": name, "axes": axes, "command": "python -m lit_srl fit ...", "folder": str(folder / "runs" / name),
                     "baseline": str(base)})
        if isinstance(outcome, dict):
            write_json(folder / "runs" / name / "result.json", outcome)
        elif outcome == "failed":
            write_json(folder / "runs" / name / "failure.json", {"returncode": 2, "error": "error: it broke"})
    write_json(folder / "plan.json", {"sweep": folder.name, "runs": plan})


def _record(avg: float, gd: float = 0.5, margin: float = 0.3) -> dict:
    return {"scores": {"STSBenchmark": avg, "avg": avg}, "monitor": {"gd_mean": gd, "w_hardest": 0.4, "ratio_mean": 1.0},
            "train": {"seconds_per_step": 1.0}, "config": {"model": {"loss": {"init_args": {"gd_margin": margin}}}},
            "git": {"commit": "abc", "dirty": False}, "device": "cpu"}


def test_report_tables_figures_and_the_runs_that_failed_or_are_missing(tmp_path):
    from lit_srl.sweep.report import write_report

    _fixture_sweep(tmp_path / "fig", {
        "barlowtwins_seed1": ({"objective": "barlowtwins", "seed_everything": 1}, _record(71.0)),
        "barlowtwins_seed2": ({"objective": "barlowtwins", "seed_everything": 2}, _record(73.0)),
        "barlowtwins_mod_seed1": ({"objective": "barlowtwins_mod", "seed_everything": 1}, _record(74.0)),
        "barlowtwins_mod_seed2": ({"objective": "barlowtwins_mod", "seed_everything": 2}, "failed"),
        "infonce_seed1": ({"objective": "infonce", "seed_everything": 1}, "missing"),
    })
    key = "model.loss.init_args.gd_margin"
    _fixture_sweep(tmp_path / "comp", {
        "default_seed1": ({"label": "default", "seed_everything": 1}, _record(72.0, margin=0.3)),
        "gd_margin0.1_seed1": ({key: 0.1, "seed_everything": 1}, _record(70.0, margin=0.1)),
        "gd_margin1_seed1": ({key: 1.0, "seed_everything": 1}, _record(75.0, margin=1.0)),
    })
    text = write_report(tmp_path, tmp_path / "RESULTS.md")
    assert text == (tmp_path / "RESULTS.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| barlowtwins |"))
    half = 12.7062 * 2 ** 0.5 / 2 ** 0.5  # t(0.975, 1) · std / √n with std = √2
    assert "72.00 ± 1.41" in row and f"[{72 - half:.2f}, {72 + half:.2f}]" in row and "+2.00 ± 1.41" in row
    assert "| 2/2 |" in row and "0.500" in row
    assert "| barlowtwins_mod |" in text and "| 1/2 |" in text
    assert "- barlowtwins_mod_seed2: exit 2 — error: it broke" in text
    assert "Missing runs (not run yet): infonce_seed1" in text
    assert "mod − ori Δavg: barlowtwins +2.00 (mod ahead in 1 of 1 pairs)" in text
    assert "gd_margin: STS avg 70.00 at 0.1 to 75.00 at 1.0" in text
    assert (tmp_path / "fig" / "figures" / "objectives.png").is_file()
    assert (tmp_path / "comp" / "figures" / "components.png").is_file()
    assert "](comp/figures/components.png)" in text


def test_report_prints_gradient_components_to_significant_digits(tmp_path):
    from lit_srl.sweep.report import write_report

    _fixture_sweep(tmp_path / "sig", {
        "infonce_seed1": ({"objective": "infonce", "seed_everything": 1}, _record(71.0, gd=5.0e-6)),
        "infonce_seed2": ({"objective": "infonce", "seed_everything": 2}, _record(72.0, gd=5.2e-6)),
        "sg_seed1": ({"objective": "sg", "seed_everything": 1}, _record(71.0, gd=0.0)),
        "sg_seed2": ({"objective": "sg", "seed_everything": 2}, _record(72.0, gd=0.0)),
    })
    rows = {line.split(" | ")[0]: line for line in write_report(tmp_path).splitlines() if line.startswith("| ")}
    assert "| 5.10e-06 ± 1.4e-07 | 0.400 ± 0 |" in rows["| infonce"]
    assert "| 0 ± 0 | 0.400 ± 0 |" in rows["| sg"]



def test_report_compares_a_sweep_run_again_in_a_second_folder_with_the_seed_spread_beside(tmp_path):
    from lit_srl.sweep.report import write_report

    def run(avg, order):
        record = _record(avg)
        record["config"]["data"] = {"order": order} if order else {"shuffle_buffer": 10000}
        return record

    for folder, order, avgs in (("a", None, (71.0, 73.0, 70.0, 70.2)), ("b", "permutation", (72.0, 74.0, 75.0, 75.4))):
        _fixture_sweep(tmp_path / folder, {
            "infonce_seed1": ({"objective": "infonce", "seed_everything": 1}, run(avgs[0], order)),
            "infonce_seed2": ({"objective": "infonce", "seed_everything": 2}, run(avgs[1], order)),
            "mpt_seed1": ({"objective": "mpt", "seed_everything": 1}, run(avgs[2], order)),
            "mpt_seed2": ({"objective": "mpt", "seed_everything": 2}, run(avgs[3], order)),
        })
        plan = json.loads((tmp_path / folder / "plan.json").read_text())
        plan["sweep"] = "fig"
        (tmp_path / folder / "plan.json").write_text(json.dumps(plan))
    text = write_report(tmp_path)
    assert text.startswith("# Sweep results: fig (`a`), fig (`b`)\n")
    assert "## fig: `a` → `b`" in text
    assert "`data.order: – → permutation`" in text and "`data.shuffle_buffer: 10000 → –`" in text
    assert "| infonce | 72.00 ± 1.41 | 73.00 ± 1.41 | +1.00 | 1.41 | 2 |" in text
    assert "| mpt | 70.10 ± 0.14 | 75.20 ± 0.28 | +5.10 | 0.28 | 2 |" in text
    assert "mean Δ over 2 groups +3.05 (from +1.00 to +5.10); 1 of 2 groups moved by more than their seed std" in text


def test_report_gives_the_runner_overhead_of_warm_and_cold_starts_apart(tmp_path):
    from lit_srl.sweep.report import SweepResults, overhead

    runs = {f"seed{k}": ({"seed_everything": k}, {**_record(70.0), "train": {"fit_seconds": 20.0, "test_seconds": 5.0}})
            for k in (1, 2, 3, 4)}
    _fixture_sweep(tmp_path / "s", runs)
    # seed1 started cold, seed2 and seed3 warm; seed4 was resumed (two attempts): left out
    for name, walls, warm in (("seed1", [35.0], False), ("seed2", [27.0], True), ("seed3", [26.0], True),
                              ("seed4", [9.0, 30.0], True)):
        (tmp_path / "s" / "runs" / name / "attempts.jsonl").write_text(
            "".join(json.dumps({"wall_seconds": wall, "warm_start": warm}) + "\n" for wall in walls))
    line = overhead(SweepResults(tmp_path / "s"))
    assert "1.5 s per run started warm (n = 2); 10.0 s per run started cold (n = 1)" in line
    assert f"fit + test = {100 * 75 / 88:.1f}% of the runs' wall time" in line

"""``sweep slurm`` (no cluster needed): the frozen plan an array task reads, the checked sbatch
options, the resources and GPU sharing the script asks for."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

import lit_srl.cli
from lit_srl.cli import main
from lit_srl.errors import LitSrlError
from lit_srl.sweep import slurm
from lit_srl.sweep.runner import SweepRunner
from support.sweep_helpers import config, tiny_settings, write_sweep


def three_seeds(tmp_path, tiny_bert, **settings):
    return write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": {**tiny_settings(tiny_bert), **settings},
        "grid": {"seed_everything": [1, 2, 3]},
    })


def task_args(script: str, run: str) -> list[str]:
    """The lit_srl arguments of the script's exec line, for array task ``run``."""
    (line,) = [line for line in script.splitlines() if line.startswith("exec ")]
    argv = shlex.split(line.replace('"$RUN"', shlex.quote(run)))
    assert argv[1:4] == ["python", "-m", "lit_srl"]
    return argv[4:]


def test_an_array_task_runs_its_frozen_entry_without_resolving_or_touching_other_runs(tmp_path, tiny_bert, monkeypatch):
    out = tmp_path / "out"
    assert main(["sweep", "slurm", str(three_seeds(tmp_path, tiny_bert)), "--output-dir", str(out)]) == 0
    script = (out / "sweep.sbatch").read_text()
    plan = json.loads((out / "plan.json").read_text())
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}

    def refuse(*args):
        raise AssertionError("an array task resolved a config")

    executed = []

    def fake_fit(self, args, folder, env, prefix, slot):  # records the command, writes what the fit or eval would
        executed.append(args)
        written = folder / "result.json" if args[0] == "fit" else Path(args[args.index("--output") + 1])
        written.write_text("{}")
        return 0, 0.0, False

    monkeypatch.setattr(lit_srl.cli, "resolve_fit_config", refuse)
    monkeypatch.setattr(SweepRunner, "_execute", fake_fit)
    for key, value in {"SLURM_JOB_ID": "7", "SLURM_ARRAY_JOB_ID": "6", "SLURM_ARRAY_TASK_ID": "2"}.items():
        monkeypatch.setenv(key, value)  # as sbatch starts an array task
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    assert main(task_args(script, "seed2")) == 0
    assert executed == [shlex.split(plan["runs"][1]["command"])[3:]]
    assert main(task_args(script, "baseline")) == 0
    assert executed[1][0] == "eval" and executed[1][executed[1].index("--output") + 1] == plan["runs"][0]["baseline"]
    for path, stamp in files.items():  # plan.json, the other runs' files: not rewritten
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp, path
    new = {p.relative_to(out) for p in out.rglob("*") if p.is_file() and p not in files}
    baseline = Path(plan["runs"][0]["baseline"]).relative_to(out)
    assert all(p.parts[:2] == ("runs", "seed2") or p.parent in (baseline.parent, baseline.with_name("." + baseline.stem))
               for p in new), new


@pytest.mark.parametrize("options, message", [
    (["--partiton", "debug"], "unknown option --partiton (did you mean --partition?)"),
    (["--only-runs=seed1"], "unknown option --only-runs"),
    (["-z"], "unknown option '-z'"),
    (["--array=0-3"], "sets --array itself"),
    (["--ntasks-per-node=4"], "sets --ntasks-per-node itself"),
    (["--parsable"], "give it to sbatch"),
    (["--time"], "--time needs a value"),
    (["--hold=yes"], "--hold takes no value"),
    (["-p", "a", "--partition=b"], "--partition is given twice"),
])
def test_a_bad_sbatch_option_is_one_line_before_anything_is_written(tmp_path, capsys, options, message):
    path = write_sweep(tmp_path / "s.yaml", {"configs": [config("quickstart.yaml")], "grid": {"seed_everything": [1]}})
    assert main(["sweep", "slurm", str(path), "--output-dir", str(tmp_path / "out"), *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_help_lists_the_sbatch_options_passed_on(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "slurm", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("--partition", "--account", "--mem-per-gpu", "--max-parallel", "--only", "--runs-per-gpu"):
        assert name in text


def test_the_script_asks_for_cpus_and_memory_from_the_config_a_subset_and_a_throttle(tmp_path, tiny_bert):
    out = tmp_path / "out"
    path = three_seeds(tmp_path, tiny_bert, **{"data.num_workers": 2})
    assert main(["sweep", "slurm", str(path), "--output-dir", str(out), "--only", "seed1,seed3", "--max-parallel", "1"]) == 0
    script = (out / "sweep.sbatch").read_text()
    per_fit = slurm.MEM_PER_FIT_GB + 2 * slurm.MEM_PER_WORKER_GB
    for line in ("#SBATCH --array=0-1%1", "#SBATCH --cpus-per-task=3", f"#SBATCH --mem={per_fit}G", "RUNS=(seed1 seed3)"):
        assert line in script.splitlines(), line
    assert len(json.loads((out / "plan.json").read_text())["runs"]) == 3  # the plan stays whole
    # the user's figures replace the config's, once
    assert main(["sweep", "slurm", str(path), "--output-dir", str(out), "-c", "8", "--mem-per-cpu=4G"]) == 0
    lines = (out / "sweep.sbatch").read_text().splitlines()
    assert [line for line in lines if "--cpus-per-task" in line] == ["#SBATCH --cpus-per-task=8"]
    assert "#SBATCH --mem-per-cpu=4G" in lines and not any(line.startswith("#SBATCH --mem=") for line in lines)
    assert "RUNS=(seed1 seed2 seed3 baseline)" in lines and "#SBATCH --array=0-3" in lines


@pytest.mark.parametrize("gres, runs, kind, want", [
    (["gpu:4,shard:32"], 4, "shard", "shard:2"),
    (["gpu:h100:8(S:0-1),shard:h100:64(S:0-1)"], 2, "shard", "shard:4"),
    (["gpu:2,mps:200"], 4, "mps", "mps:25"),
])
def test_runs_per_gpu_asks_for_the_share_of_one_gpu(gres, runs, kind, want):
    assert slurm.sharing_gres(gres, runs, kind) == want


@pytest.mark.parametrize("gres, runs, message", [
    (["(null)"], 2, "no node here shares its GPUs as shard GRES"),
    (["gpu:4"], 2, "no node here shares"),
    (["gpu:4,shard:32"], 3, "does not divide the 8 shards"),
    (["gpu:4,shard:32", "gpu:2,shard:32"], 2, "[8, 16] shards per GPU"),
])
def test_runs_per_gpu_without_a_matching_gpu_share_is_one_line(gres, runs, message):
    with pytest.raises(LitSrlError, match=message.replace("[", r"\[").replace("]", r"\]")):
        slurm.sharing_gres(gres, runs)


def test_runs_per_gpu_writes_the_shard_request_instead_of_whole_gpus(tmp_path, tiny_bert, monkeypatch):
    out = tmp_path / "out"
    path = three_seeds(tmp_path, tiny_bert, **{"trainer.accelerator": "gpu"})
    asked = []
    monkeypatch.setattr(slurm, "cluster_gres", lambda partition: asked.append(partition) or ["gpu:4,shard:32"])
    assert main(["sweep", "slurm", str(path), "--output-dir", str(out), "--runs-per-gpu", "4", "-p", "gpu"]) == 0
    lines = (out / "sweep.sbatch").read_text().splitlines()
    assert asked == ["gpu"]
    assert [line for line in lines if "--gres" in line] == ["#SBATCH --gres=shard:2"]
    assert main(["sweep", "slurm", str(path), "--output-dir", str(out)]) == 0
    assert "#SBATCH --gres=gpu:1" in (out / "sweep.sbatch").read_text().splitlines()

"""A run ``sweep run`` hands to a warm standby trains exactly as the same run started cold.

Each sweep here has two runs of the same training (they differ only in a setting that does not
touch it), one slot, no baseline: the first run starts cold, the second in the standby that
imported while the first trained (:mod:`lit_srl.sweep.standby`). Same losses at the same
TensorBoard steps, same dev curve, best step and test scores — in one process, and under DDP,
where Lightning relaunches rank 1 from the standby's ``sys.argv``.
"""

from __future__ import annotations

import pytest

from support.helpers import read_scalars
from support.sweep_helpers import attempts, config, result, sweep_cmd, tiny_settings, write_sweep


def run_twice(tmp_path, tiny_bert, settings: dict, configs=()) -> list[dict]:
    """Sweep two runs that train alike (model summary off/on); each run's outcome and its log."""
    out = tmp_path / "out"
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml"), config("loss/infonce.yaml"), *map(config, configs)],
        "set": {**tiny_settings(tiny_bert, steps=4, val_every=2), **settings},
        "runs": [{"name": "cold", "set": {"trainer.enable_model_summary": False}},
                 {"name": "warm", "set": {"trainer.enable_model_summary": True}}],
    })
    done = sweep_cmd("run", str(path), "--output-dir", str(out), "--no-baseline")
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = []
    for name in ("cold", "warm"):
        record = result(out, name)
        outcomes.append({
            "standby": [a["standby"] for a in attempts(out, name)],
            "losses": read_scalars(out / "runs" / name)["train/loss"],
            "dev_curve": record["selection"]["dev_curve"], "best_step": record["selection"]["best_step"],
            "scores": record["scores"], "log": (out / "runs" / name / "fit.log").read_text(),
        })
    assert [o.pop("standby") for o in outcomes] == [[False], [True]]
    return outcomes


def same_training(cold: dict, warm: dict) -> None:
    assert len(cold["losses"]) == 4
    for key in ("losses", "dev_curve", "best_step", "scores"):
        assert warm[key] == cold[key], key


@pytest.mark.processes
def test_a_warm_started_run_trains_as_the_same_run_started_cold(tmp_path, tiny_bert, data_dir):
    cold, warm = run_twice(tmp_path, tiny_bert, {})
    same_training(cold, warm)
    assert "Traceback" not in warm["log"]


@pytest.mark.ddp
def test_a_warm_started_ddp_run_relaunches_its_second_rank_and_trains_as_cold(tmp_path, tiny_bert, data_dir):
    cold, warm = run_twice(tmp_path, tiny_bert, {"trainer.devices": 2, "trainer.accelerator": "cpu"},
                           configs=("trainer/ddp.yaml",))
    same_training(cold, warm)
    for outcome in (cold, warm):
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outcome["log"] and "Traceback" not in outcome["log"]

"""A sweep's values reach ``fit`` exactly, and a sweep too large to plan is refused before it is built."""

from __future__ import annotations

import time

import pytest

from lit_srl.cli import main
from lit_srl.errors import LitSrlError
from lit_srl.sweep.plan import make_plan
from lit_srl.sweep.spec import load_sweep
from support.sweep_helpers import config, tiny_settings, write_sweep


def test_every_value_reaches_fit_exactly_as_written(tmp_path, tiny_bert):
    values = {
        "model.lr": 1.2345678e-05,                    # a float past 6 significant digits
        "model.loss.init_args.temperature": 0.30000000000000004,
        "trainer.max_steps": 123456789,               # an int
        "model.pooler": "avg",                        # a string
        "data.test_tasks": ["STSBenchmark", "SICKRelatedness"],   # a list
        "trainer.gradient_clip_val": 1e-07,
    }
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "set": {**tiny_settings(tiny_bert), **values}, "runs": [{"name": "one"}]})
    (planned,) = make_plan(load_sweep(path), tmp_path / "out")
    assert "--model.lr=1.2345678e-05" in planned.fit_args()
    for key, value in values.items():
        resolved = planned.config
        for part in key.split("."):
            resolved = resolved[part]
        assert resolved == value and type(resolved) is type(value), key


def test_a_grid_above_the_run_limit_is_one_line_before_any_run_is_built(tmp_path, capsys):
    axis = list(range(100))
    path = write_sweep(tmp_path / "big.yaml", {
        "configs": [config("quickstart.yaml")],
        "grid": {"seed_everything": axis, "trainer.max_steps": axis, "data.batch_size": axis}})
    start = time.monotonic()
    assert main(["sweep", "plan", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1,000,000 runs (100 × 100 × 100)" in err[0] and "--max-runs 1000000" in err[0], err
    assert not (tmp_path / "out").exists()


def test_max_runs_sets_the_limit(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", {
        "configs": [config("quickstart.yaml")], "grid": {"seed_everything": [1, 2, 3], "trainer.max_steps": [1, 2]},
        "runs": [{"name": "extra"}]})
    with pytest.raises(LitSrlError, match=r"7 runs \(3 × 2 \+ 1 listed\), above the limit of 6"):
        load_sweep(path, max_runs=6)
    assert len(load_sweep(path, max_runs=7).runs) == 7

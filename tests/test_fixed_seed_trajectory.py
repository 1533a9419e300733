"""A fixed-seed fit gives the same numbers step by step as the committed reference.

The reference (tests/fixtures/fixed_seed_trajectories.json) was written by this test before the
"one home per concept" refactor (issue 12): for every loss preset, a 4-step fit of the tiny
random BERT (seed 0 weights, seed_everything 42, batch 8, CPU, float32) with the gradient monitor
at every step and STS-B dev after step 4, on the 10,000-line shuffle buffer's data order
(``data.order=buffer``, the order of that time; pinned explicitly so that the reference still
proves the rest of the code unchanged now that the whole-corpus permutation is the default). Any change to the training, monitoring or validation
code that moves a loss, a logged GD/W/R or cosine statistic, or the dev Spearman fails it.

Write the reference of a new preset, or regenerate one for an intended numerical change (say why
in the commit); only the selected presets are rewritten:
    LIT_SRL_WRITE_REFERENCE=1 python -m pytest tests/test_fixed_seed_trajectory.py -k <preset>
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from support.helpers import REPO, fit_args, read_scalars, run_cli

REFERENCE = Path(__file__).parent / "fixtures" / "fixed_seed_trajectories.json"
PRESETS = sorted(p.stem for p in (REPO / "configs" / "loss").glob("*.yaml"))
#: scalars compared step by step (the learning rate, throughput and timings are left out)
TRACKED_PREFIXES = ("train/loss", "grad/", "cos/", "val/")
#: float32 on one CPU: the reruns agree to the last bit. Other CPUs' kernels do not: the reference
#: (written on the CI machines of 2026-12-02) rerun unchanged on an AMD EPYC machine moved the step-3
#: loss of mhs_mod by 1.1e-4 (relative) and the STS-B dev Spearman of arccon/mhe/mpt by 1.2e-5 to
#: 3.1e-5. A change of the step's math moves these by far more than 5e-4.
RTOL, ATOL = 5e-4, 1e-6
#: The monitored statistics (grad/*, cos/*) come from the loss's own cosines; the monitor before
#: the refactor re-normalised the already unit views first, a 1-ulp change of s. MET's distance
#: sqrt(max(2 − 2s, 1e-4)) near its floor turns that into 1.1e-5 of grad/ratio_mean at step 3
#: (0.6088559 vs 0.6088492), within RTOL.


def trajectory(root: Path) -> dict[str, list[list[float]]]:
    scalars = read_scalars(root)
    return {
        tag: [[step, value] for step, value in sorted(values)]
        for tag, values in sorted(scalars.items())
        if tag.startswith(TRACKED_PREFIXES)
    }


@pytest.fixture(scope="module")
def reference() -> dict:
    if os.environ.get("LIT_SRL_WRITE_REFERENCE") or not REFERENCE.exists():
        return {}
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("preset", PRESETS)
def test_fixed_seed_fit_matches_the_reference_step_by_step(preset, reference, tiny_bert, data_dir, tmp_path):
    args = fit_args(
        tmp_path, str(tiny_bert), "--model.pooler=cls", "--data.count_sentences=false", "--data.order=buffer",
        steps=4, val_every=4, batch=8, configs=[f"loss/{preset}.yaml"],
    )
    assert run_cli(args) == 0
    got = trajectory(tmp_path)
    assert got["train/loss"] and got["val/stsb_spearman"]
    if not reference:
        stored = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
        stored[preset] = got
        REFERENCE.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote the reference of {preset}")
    if preset not in reference:
        pytest.fail(f"no reference for the preset {preset}: write it with LIT_SRL_WRITE_REFERENCE=1 python -m pytest "
                    f"tests/test_fixed_seed_trajectory.py -k {preset} (only the selected presets are rewritten)")
    want = reference[preset]
    assert sorted(got) == sorted(want), f"{preset}: logged tags changed"
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], f"{preset} {tag}: steps changed"
        for (step, value), (_, expected) in zip(got[tag], points):
            same = (math.isnan(value) and math.isnan(expected)) or math.isclose(value, expected, rel_tol=RTOL, abs_tol=ATOL)
            assert same, f"{preset} {tag} at step {step}: {value!r} != reference {expected!r}"


EVAL_REFERENCE = Path(__file__).parent / "fixtures" / "eval_scores_tiny_bert.json"


def test_eval_scores_match_the_reference_to_1e6(tiny_bert, data_dir, tmp_path):
    """``eval`` of the tiny BERT (avg pooler) on all seven test sets: the reference's Spearman/Pearson."""
    out = tmp_path / "scores.json"
    argv = ["eval", "--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu", "--output", str(out)]
    assert run_cli(argv) == 0
    got = {task: res for task, res in json.loads(out.read_text()).items() if task != "meta"}
    if os.environ.get("LIT_SRL_WRITE_REFERENCE") or not EVAL_REFERENCE.exists():
        EVAL_REFERENCE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip("wrote the eval reference")
    want = json.loads(EVAL_REFERENCE.read_text())
    assert sorted(got) == sorted(want)
    assert abs(got["avg"] - want["avg"]) <= 1e-6
    for task, res in want.items():
        if task == "avg":
            continue
        for key in ("spearman", "pearson"):
            assert abs(got[task][key] - res[key]) <= 1e-6, (task, key, got[task][key], res[key])

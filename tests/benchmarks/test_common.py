"""benchmarks/common.py: the facts of a report's header."""

from __future__ import annotations

import subprocess
import sys

import torch

from support.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import common  # noqa: E402


def test_versions_come_from_the_installed_distributions(monkeypatch):
    monkeypatch.setattr(common, "LIBRARIES", ("torch", "no-such-distribution-of-lit-srl"))
    found = common.versions()
    assert found["torch"] == torch.__version__
    assert found["no-such-distribution-of-lit-srl"] == "absent"
    assert set(found) == {"python", "torch", "no-such-distribution-of-lit-srl"}


def test_reading_the_versions_imports_none_of_the_libraries():
    """A report's header must not cost the seconds of importing torch, Lightning, transformers and
    sentence-transformers."""
    probe = ("import sys; sys.path.insert(0, 'benchmarks'); import common; common.versions(); "
             "print(sorted(m for m in ('torch', 'lightning', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

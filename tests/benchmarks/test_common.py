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
    assert found["torch"] == torch.__version__  # the build's label too (+cpu, +cu130): not the wheel's metadata
    assert found["no-such-distribution-of-lit-srl"] == "absent"
    assert set(found) == {"python", "torch", "no-such-distribution-of-lit-srl"}


def test_a_build_label_in_version_py_wins_over_the_metadata_and_a_source_tree_gives_its_init_version(
        tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "built_pkg").mkdir(parents=True)
    (site / "built_pkg" / "__init__.py").write_text("")
    (site / "built_pkg" / "version.py").write_text("from typing import Optional\n__version__ = '2.11.0+cu130'\n")
    (site / "built_pkg-2.11.0.dist-info").mkdir()
    (site / "built_pkg-2.11.0.dist-info" / "METADATA").write_text("Name: built-pkg\nVersion: 2.11.0\n")
    (site / "tree_pkg").mkdir()
    (site / "tree_pkg" / "__init__.py").write_text('"""A package run from its source tree."""\n\n__version__ = "0.1.0"\n')
    monkeypatch.syspath_prepend(str(site))
    assert common.installed_version("built-pkg") == "2.11.0+cu130"
    assert common.installed_version("tree_pkg") == "0.1.0"
    (site / "built_pkg" / "version.py").unlink()
    assert common.installed_version("built-pkg") == "2.11.0"  # no version.py: the metadata


def test_reading_the_versions_imports_none_of_the_libraries():
    """A report's header must not cost the seconds of importing torch, Lightning, transformers and
    sentence-transformers."""
    probe = ("import sys; sys.path.insert(0, 'benchmarks'); import common; common.versions(); "
             "print(sorted(m for m in ('torch', 'lightning', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

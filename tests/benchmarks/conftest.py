"""The benchmark tests' fixtures."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from support.helpers import REPO


@pytest.fixture(scope="module")
def gpu_check():
    """scripts/gpu_check.py as a module."""
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]

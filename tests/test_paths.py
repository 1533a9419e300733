"""The data root: --data.data_dir / $LIT_SRL_DATA / ./data (configs_dir: tests/configs/test_presets.py)."""

from __future__ import annotations

from pathlib import Path

from lit_srl.paths import DATA_ENV, default_data_dir


def test_the_data_root_is_the_environment_variable_with_home_expanded(monkeypatch):
    monkeypatch.setenv(DATA_ENV, "~/somewhere")
    assert default_data_dir() == Path.home() / "somewhere"


def test_without_the_variable_the_data_root_is_dot_data(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert default_data_dir() == Path("data")
    monkeypatch.setenv(DATA_ENV, "")
    assert default_data_dir() == Path("data")

"""The loss presets, configs/loss/*.yaml, are the one home of a preset: the loss registry, the
sweeps' objective axes and the preset tests (tests/losses/test_losses.py) derive their lists from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import REPO
from lit_srl import paths
from lit_srl.losses import InfoNCE, available_losses, build_loss, registry
from lit_srl.losses.registry import LossRegistry, class_name

PRESETS = sorted(p.stem for p in (REPO / "configs" / "loss").glob("*.yaml"))


def test_registry_names_are_the_presets_and_the_classes_they_name():
    classes = {class_name(registry.read_preset(REPO / "configs" / "loss" / f"{name}.yaml")[0]) for name in PRESETS}
    assert set(available_losses()) == set(PRESETS) | classes
    assert "assembled" in available_losses() and "assembled" not in PRESETS  # a plain class name
    assert build_loss("assembled").init_args == type(build_loss("sg"))().init_args


def test_names_are_listed_in_the_papers_order_each_class_before_its_presets():
    names = available_losses()
    assert names[:6] == ("infonce", "arccon", "mpt", "met", "assembled", "sg")
    for ori in ("barlowtwins", "vicreg", "mhe", "mhs"):
        assert names.index(ori) + 1 == names.index(f"{ori}_mod")


def write_preset(folder: Path, name: str, body: str) -> None:
    (folder / "loss").mkdir(parents=True, exist_ok=True)
    (folder / "loss" / f"{name}.yaml").write_text(body)


def test_a_new_preset_file_is_a_new_name_with_its_defaults(tmp_path, monkeypatch):
    write_preset(tmp_path, "infonce_warm", "# a test preset\nmodel:\n  loss:\n    class_path: lit_srl.losses.InfoNCE\n"
                 "    init_args:\n      temperature: 0.5\n")
    monkeypatch.setattr(registry, "configs_dir", lambda: tmp_path)
    monkeypatch.setattr(registry, "LOSSES", LossRegistry())
    assert registry.available_losses() == ("infonce", "infonce_warm")  # the class's own name comes first
    loss = registry.build_loss("infonce_warm")
    assert isinstance(loss, InfoNCE) and loss.init_args["temperature"] == 0.5
    with pytest.raises(ValueError, match=r"^unknown loss 'arccon'; valid choices: infonce, infonce_warm$"):
        registry.build_loss("arccon")


@pytest.mark.parametrize("body, message", [
    ("model:\n  lr: 1.0\n", "must be model: {loss: {class_path"),
    ("model:\n  loss:\n    class_path: lit_srl.losses.NoSuchLoss\n", "must be model: {loss: {class_path"),
    ("model:\n  loss:\n    class_path: torch.nn.Linear\n", "torch.nn.Linear is not a lit_srl.losses.SentenceLoss"),
])
def test_a_malformed_preset_is_one_line_naming_the_file(tmp_path, monkeypatch, body, message):
    write_preset(tmp_path, "broken", body)
    monkeypatch.setattr(registry, "configs_dir", lambda: tmp_path)
    monkeypatch.setattr(registry, "LOSSES", LossRegistry())
    with pytest.raises(ValueError, match=message) as info:
        registry.available_losses()
    assert "broken.yaml" in str(info.value) and "\n" not in str(info.value)


def test_configs_are_found_installed_in_the_package_before_beside_it(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "configs" / "loss").mkdir(parents=True)
    (checkout / "lit_srl").mkdir()
    assert paths.configs_dir(checkout / "lit_srl") == checkout / "configs"  # a source checkout
    site = tmp_path / "site-packages"
    (site / "lit_srl" / "configs" / "loss").mkdir(parents=True)
    (site / "configs" / "loss").mkdir(parents=True)  # someone else's top-level configs/
    assert paths.configs_dir(site / "lit_srl") == site / "lit_srl" / "configs"  # an installed wheel
    with pytest.raises(ValueError, match="configs folder"):
        paths.configs_dir(tmp_path / "nowhere" / "lit_srl")


def test_the_package_installs_configs_with_the_presets():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "lit_srl.configs" in setuptools["packages"]
    assert setuptools["package-dir"]["lit_srl.configs"] == "configs"
    assert "**/*.yaml" in setuptools["package-data"]["lit_srl.configs"]
    assert paths.configs_dir() == REPO / "configs"  # this checkout (an editable install)


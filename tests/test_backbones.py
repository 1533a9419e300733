"""Backbone names: the minilm alias, local folders (with config.json) and hub names."""

from __future__ import annotations

from pathlib import Path

import pytest

from lit_srl.backbones import load_pretrained, minilm_path, resolve_backbone
from lit_srl.errors import LitSrlError


def test_minilm_resolves_to_the_packaged_folder():
    folder = Path(resolve_backbone("minilm"))
    assert folder == minilm_path() and (folder / "config.json").is_file()


def test_a_model_folder_is_used_as_it_is(tiny_bert):
    assert resolve_backbone(str(tiny_bert)) == str(tiny_bert)


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base", "princeton-nlp/unsup-simcse-bert-base-uncased"])
def test_hub_names_pass_through(name):
    assert resolve_backbone(name) == name


def test_a_folder_without_config_json_is_refused(tmp_path):
    with pytest.raises(LitSrlError, match=f"{tmp_path} has no config.json"):
        resolve_backbone(str(tmp_path))


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(LitSrlError, match="does not exist"):
        resolve_backbone(str(tmp_path / "nope"))


def test_an_unloadable_backbone_is_one_line_naming_it(tmp_path):
    from transformers import AutoTokenizer

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(LitSrlError, match="cannot load backbone") as info:
        load_pretrained(AutoTokenizer, str(tmp_path))
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)

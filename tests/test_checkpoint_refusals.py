"""What ``eval`` and ``export`` refuse in one line instead of a wrong result or a long traceback:
a checkpoint with NaN/inf weights, a folder named like a checkpoint, a Hugging Face folder whose
pickled ``pytorch_model.bin`` the weights-only loader refuses; and the tokenizer file names a
checkpoint may carry cover what transformers' tokenizers save."""

from __future__ import annotations

import argparse
import shutil

import pytest
import torch

from lit_srl.checkpoint import TOKENIZER_FILES
from lit_srl.cli import main


def eval_args(model, data_dir) -> list[str]:
    return ["eval", "--model", str(model), "--tasks", "STSBenchmark", "--split", "dev", "--data-dir", str(data_dir)]


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_eval_and_export_refuse_a_checkpoint_with_non_finite_weights(value, tiny_checkpoint, data_dir, tmp_path, capsys):
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.endswith("attention.self.query.weight"))
    ckpt["state_dict"][name][0, 0] = value
    diverged = tmp_path / "diverged.ckpt"
    torch.save(ckpt, diverged)
    assert main(eval_args(diverged, data_dir)) == 2
    line = one_error_line(capsys)
    assert str(diverged) in line and "non-finite weights" in line and name[len("encoder."):] in line, line
    assert main(["export", str(diverged), str(tmp_path / "out")]) == 2
    assert "non-finite weights" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("hf_folder", [False, True])
def test_a_folder_named_like_a_checkpoint_is_called_a_folder(hf_folder, tiny_bert, data_dir, tmp_path, capsys):
    folder = tmp_path / "x.ckpt"
    if hf_folder:
        shutil.copytree(tiny_bert, folder)
    else:
        folder.mkdir()
    for args in (eval_args(folder, data_dir), ["export", str(folder), str(tmp_path / "out")]):
        assert main(args) == 2
        line = one_error_line(capsys)
        assert f"{folder} is a folder" in line and "does not exist" not in line, line
        assert (f"give it as {folder}/" in line) == hf_folder, line


def test_a_hugging_face_folder_with_a_refused_pickled_weights_file_is_one_line(tiny_bert, data_dir, tmp_path, capsys):
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert, folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save({**state, "extra": argparse.Namespace(x=1)}, folder / "pytorch_model.bin")  # not plain data
    assert main(eval_args(folder, data_dir)) == 2
    line = one_error_line(capsys)
    assert str(folder) in line and "pytorch_model.bin" in line and "no code in it ran" in line, line


def test_tokenizer_file_names_cover_what_transformers_tokenizers_save():
    import transformers
    import transformers.tokenization_utils_base as base

    generic = {getattr(base, name) for name in dir(base) if name.isupper() and name.endswith("_FILE")}
    assert generic <= TOKENIZER_FILES, generic - TOKENIZER_FILES
    classes = ["BertTokenizer", "RobertaTokenizer", "XLMRobertaTokenizer", "T5Tokenizer", "GPT2Tokenizer",
               "DebertaV2Tokenizer", "AlbertTokenizer", "MPNetTokenizer", "LlamaTokenizer"]
    for name in classes:
        cls = getattr(transformers, name, None)
        names = set(getattr(cls, "vocab_files_names", {}).values())
        assert names <= TOKENIZER_FILES, (name, names - TOKENIZER_FILES)
    assert all("/" not in name and "\\" not in name and name not in (".", "..") for name in TOKENIZER_FILES)

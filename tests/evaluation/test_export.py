"""Export: a SentenceEncoder → a Hugging Face folder that sentence-transformers loads identically."""

from __future__ import annotations

import json

import pytest
import torch

from lit_srl.errors import LitSrlError
from lit_srl.evaluation.export import export_encoder, main

SENTENCES = [
    "a man is playing a guitar .",
    "A woman slices a tomato on the cutting board",
    "hello",
    "the stock market fell 3 % on monday after the fed 's announcement .",
]


@pytest.fixture(scope="session")
def tiny_bert_dir(tiny_bert):
    """conftest's random 2-layer, 32-wide BERT with the real uncased tokenizer."""
    return tiny_bert


def _encoder(folder, pooler, head=None, head_at_eval=False):
    from lit_srl.encoder import SentenceEncoder

    torch.manual_seed(1)
    encoder = SentenceEncoder(str(folder), pooler=pooler, head=head, head_at_eval=head_at_eval)
    if encoder.head is not None:  # a head far from identity/zero, so a wrong export shows
        torch.nn.init.normal_(encoder.head[0].weight, std=0.3)
        torch.nn.init.normal_(encoder.head[0].bias, std=0.3)
    return encoder


def _st_embeddings(folder):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return torch.as_tensor(model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=False))


@pytest.mark.parametrize(
    "pooler,head,head_at_eval,n_modules",
    [
        ("cls", "mlp", False, 2),  # SimCSE: the train-only MLP is dropped
        ("cls_before_pooler", "none", False, 2),
        ("avg", "none", False, 2),
        ("cls", "mlp", True, 3),  # head kept at eval → 2_Dense (Linear + Tanh)
        ("avg", "linear", True, 3),  # → 2_Dense (Linear + Identity)
    ],
)
def test_sentence_transformers_reproduces_encode(tiny_bert_dir, tmp_path, pooler, head, head_at_eval, n_modules):
    encoder = _encoder(tiny_bert_dir, pooler, head, head_at_eval)
    out = export_encoder(encoder, tmp_path / "exported")
    modules = json.loads((out / "modules.json").read_text())
    assert len(modules) == n_modules
    assert (out / "2_Dense").is_dir() == (n_modules == 3)
    torch.testing.assert_close(_st_embeddings(out), encoder.encode(SENTENCES), atol=1e-5, rtol=1e-5)


def test_export_is_a_plain_hugging_face_folder(tiny_bert_dir, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    encoder = _encoder(tiny_bert_dir, "cls_before_pooler")
    out = export_encoder(encoder, tmp_path / "hf")
    model = AutoModel.from_pretrained(out).eval()
    batch = AutoTokenizer.from_pretrained(out)(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        cls = model(**batch).last_hidden_state[:, 0]
    torch.testing.assert_close(cls, encoder.encode(SENTENCES), atol=1e-5, rtol=1e-5)
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    pooling = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_cls_token"] and not pooling["pooling_mode_mean_tokens"]


def test_non_empty_out_dir_is_refused_unless_overwrite(tiny_bert_dir, tmp_path):
    encoder = _encoder(tiny_bert_dir, "avg")
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(LitSrlError, match=r"is not empty; pass --overwrite"):
        export_encoder(encoder, out)
    export_encoder(encoder, out, overwrite=True)
    assert (out / "modules.json").is_file() and (out / "notes.txt").read_text() == "mine"


def test_avg_first_last_is_refused_and_nothing_written(tiny_bert_dir, tmp_path):
    encoder = _encoder(tiny_bert_dir, "avg_first_last")
    with pytest.raises(LitSrlError, match=r"avg_first_last' has no sentence-transformers equivalent.*eval"):
        export_encoder(encoder, tmp_path / "afl")
    assert not (tmp_path / "afl").exists()


def test_export_command_writes_a_trained_checkpoint_that_sentence_transformers_loads(tiny_checkpoint, tmp_path):
    from sentence_transformers import SentenceTransformer

    from lit_srl.checkpoint import load_encoder
    from lit_srl.cli import main as cli_main

    out = tmp_path / "exported"
    assert cli_main(["export", str(tiny_checkpoint), str(out)]) == 0
    ours = load_encoder(tiny_checkpoint).encode(SENTENCES)
    theirs = SentenceTransformer(str(out), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    assert torch.allclose(ours, theirs.float(), atol=1e-5)
    with pytest.raises(LitSrlError, match="is not empty"):
        main([str(tiny_checkpoint), str(out)])
    assert main([str(tiny_checkpoint), str(out), "--overwrite"]) == 0


def test_main_missing_checkpoint_says_so(tmp_path):
    with pytest.raises(LitSrlError, match=r"checkpoint .*missing\.ckpt does not exist"):
        main([str(tmp_path / "missing.ckpt"), str(tmp_path / "out")])

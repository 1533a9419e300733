"""Projection heads: the ACL 2024 paper's BERT (linear) and RoBERTa (tanh_linear) heads."""

from __future__ import annotations

import json

import pytest
import torch

from lit_srl.encoder import SentenceEncoder
from lit_srl.errors import LitSrlError
from lit_srl.poolers import HEADS, PAPER_HEAD_INIT_STD, make_head

PAPER_HEADS = ("linear", "tanh_linear")


def _linear(head: torch.nn.Sequential) -> torch.nn.Linear:
    (linear,) = [m for m in head if isinstance(m, torch.nn.Linear)]
    return linear


@pytest.mark.parametrize("kind", PAPER_HEADS)
def test_paper_heads_draw_weight_and_bias_from_n_0_0006(kind):
    torch.manual_seed(0)
    linear = _linear(make_head(kind, 768))
    assert linear.weight.shape == (768, 768) and linear.bias.shape == (768,)
    assert PAPER_HEAD_INIT_STD == 0.006
    w, b = linear.weight.detach(), linear.bias.detach()
    # 589,824 weights: the sample std is within ~0.1% of 0.006, the mean within ~1e-5 of 0
    assert w.std().item() == pytest.approx(0.006, rel=0.01)
    assert abs(w.mean().item()) < 1e-4
    # 768 biases: the sample std is within ~2.5% (one standard error) of 0.006, the mean within 2e-4
    assert b.std().item() == pytest.approx(0.006, rel=0.1)
    assert abs(b.mean().item()) < 1e-3
    assert (b != 0).all()  # not zero-initialised


def test_linear_head_is_one_linear_layer_without_activation():
    torch.manual_seed(0)
    head = make_head("linear", 16)
    assert [type(m) for m in head] == [torch.nn.Linear]
    x = torch.randn(4, 16)
    torch.testing.assert_close(head(x), x @ head[0].weight.T + head[0].bias)


def test_tanh_linear_applies_tanh_before_the_linear_layer():
    torch.manual_seed(0)
    head = make_head("tanh_linear", 16)
    assert [type(m) for m in head] == [torch.nn.Tanh, torch.nn.Linear]
    x = 3 * torch.randn(4, 16)  # large inputs, so tanh-then-linear and linear-then-tanh differ
    linear = head[1]
    torch.testing.assert_close(head(x), torch.tanh(x) @ linear.weight.T + linear.bias)
    assert not torch.allclose(head(x), torch.tanh(linear(x)))


def test_mlp_and_none_heads_are_unchanged():
    head = make_head("mlp", 16)
    assert [type(m) for m in head] == [torch.nn.Linear, torch.nn.Tanh]
    assert make_head("none", 16) is None
    assert HEADS == ("mlp", "linear", "tanh_linear", "none")


def test_unknown_head_lists_tanh_linear(tiny_bert):
    with pytest.raises(LitSrlError, match="tanh_linear"):
        SentenceEncoder(str(tiny_bert), pooler="cls", head="tanh")


@pytest.mark.parametrize("kind", PAPER_HEADS)
def test_paper_head_trains_and_is_dropped_at_evaluation_unless_head_at_eval(tiny_bert, kind):
    torch.manual_seed(0)
    encoder = SentenceEncoder(str(tiny_bert), pooler="cls", head=kind)
    assert encoder.head_kind == kind
    batch = dict(encoder.tokenize(["a man plays a guitar .", "hello"], max_length=32))
    encoder.eval()
    with torch.no_grad():
        cls = encoder.backbone(**batch).last_hidden_state[:, 0]
        raw = encoder(**batch)
        headed = encoder(**batch, use_head=True)
    torch.testing.assert_close(raw, cls)  # evaluation: the raw [CLS]
    torch.testing.assert_close(headed, encoder.head(cls))
    kept = SentenceEncoder(str(tiny_bert), pooler="cls", head=kind, head_at_eval=True).eval()
    kept.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(kept(**batch), headed)
    encoder.train()  # training: through the head (dropout on, so compare shapes and the head's use)
    assert encoder(**batch).shape == cls.shape
    encoder.encode(["hello"])  # encode switches to eval and back
    assert encoder.training


def test_tanh_linear_head_kept_at_eval_exports_as_two_dense_modules(tiny_bert, tmp_path):
    from sentence_transformers import SentenceTransformer

    from lit_srl.evaluation.export import export_encoder

    torch.manual_seed(1)
    encoder = SentenceEncoder(str(tiny_bert), pooler="cls", head="tanh_linear", head_at_eval=True)
    torch.nn.init.normal_(encoder.head[1].weight, std=0.3)  # far from zero, so a wrong export shows
    out = export_encoder(encoder, tmp_path / "exported")
    modules = json.loads((out / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Dense", "3_Dense"]
    activations = [
        json.loads((out / d / "config.json").read_text())["activation_function"] for d in ("2_Dense", "3_Dense")
    ]
    assert activations == ["torch.nn.modules.activation.Tanh", "torch.nn.modules.linear.Identity"]
    sentences = ["a man is playing a guitar .", "hello", "the stock market fell 3 % on monday ."]
    theirs = SentenceTransformer(str(out), device="cpu").encode(sentences, convert_to_tensor=True)
    torch.testing.assert_close(theirs.float(), encoder.encode(sentences), atol=1e-5, rtol=1e-5)

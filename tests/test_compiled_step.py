"""``model.compile``: the compiled training forward gives the eager step's loss and gradients, and
its checkpoints are the eager module's (issue 17).

Dropout is off in these comparisons (the backbone in eval mode, the head still on): inductor draws
its own random numbers, so with dropout the two steps would differ by their masks, not their math.
Tolerances: the loss to 1e-5 relative; every gradient to 1e-3 of the largest gradient. The compiled
step pads the batch (length 8 → 16): a longer attention axis rounds differently in float32 (eager
padded vs unpadded: 7.5e-5 of the largest gradient on the 2-layer tiny BERT), and inductor fuses
kernels (3.1e-4 on the 1-layer one used here). Inductor compiles on the CPU in about 57 s on the
shared 2-core machine (13 s of CPU), aot_eager in about 7 s; the FX graph cache makes reruns cheaper.
"""

from __future__ import annotations

import pytest
import torch

from lit_srl.compiled import CompiledEncoder, bucket_length, pad_to_length, strip_compile_prefixes
from lit_srl.model import SentenceEmbeddingModule

SENTENCES = ("a man plays a guitar .", "two dogs run in a field", "hello")


@pytest.fixture(scope="module")
def one_layer_bert(tmp_path_factory):
    """The tiny random BERT with one layer: inductor compiles it in half the time."""
    from conftest import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("one_layer_bert"), layers=1)


def _module(tiny_bert, **kwargs) -> SentenceEmbeddingModule:
    torch.manual_seed(0)  # the same head initialisation for every module
    module = SentenceEmbeddingModule(backbone=str(tiny_bert), pooler="cls", **kwargs)
    module.encoder.backbone.eval()
    return module


def _step(module: SentenceEmbeddingModule) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    batch = dict(module.encoder.tokenize(list(SENTENCES), max_length=32))
    module.zero_grad(set_to_none=True)
    loss = module.loss_fn(*module.two_views(batch)).loss
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in module.named_parameters() if p.grad is not None}


@pytest.fixture(scope="module")
def eager_step(one_layer_bert):
    return _step(_module(one_layer_bert))


def _assert_same_step(got, want) -> None:
    (loss, grads), (loss_e, grads_e) = got, want
    assert loss.item() == pytest.approx(loss_e.item(), rel=1e-5)
    assert sorted(grads) == sorted(grads_e)
    scale = max(g.abs().max().item() for g in grads_e.values())
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_e[name], rtol=0, atol=1e-3 * scale, msg=name)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_the_compiled_step_gives_the_eager_loss_and_gradients(one_layer_bert, eager_step, backend):
    module = _module(one_layer_bert, compile=True)
    module.compiled.backend = backend
    got = _step(module)
    assert module.compiled._compiled is not None  # the step ran through torch.compile
    _assert_same_step(got, eager_step)


def test_batches_are_padded_to_a_few_buckets_with_masked_pad_tokens():
    assert [bucket_length(n) for n in (1, 16, 17, 32, 33, 500)] == [16, 16, 32, 32, 64, 512]
    assert bucket_length(600) == 600 and bucket_length(40, limit=48) == 40  # beyond the model's positions
    inputs = {"input_ids": torch.tensor([[101, 7, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
              "token_type_ids": torch.zeros(1, 3, dtype=torch.long)}
    padded = pad_to_length(inputs, 5, pad_token_id=0)
    assert padded["input_ids"].tolist() == [[101, 7, 102, 0, 0]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0, 0]]
    assert padded["token_type_ids"].tolist() == [[0, 0, 0, 0, 0]]


def test_a_compiled_module_has_the_eager_keys_and_loads_both_ways(one_layer_bert):
    compiled = _module(one_layer_bert, compile=True)
    compiled.compiled.backend = "aot_eager"
    _step(compiled)
    eager = _module(one_layer_bert)
    assert isinstance(compiled.compiled, CompiledEncoder)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no _orig_mod. prefixes
    eager.load_state_dict(compiled.state_dict())
    # a state dict of a module compiled in place by other code (torch.compile(module)) loads too
    foreign = {"state_dict": torch.compile(compiled).state_dict()}
    assert all(k.startswith("_orig_mod.") for k in foreign["state_dict"])
    eager.on_load_checkpoint(foreign)
    eager.load_state_dict(foreign["state_dict"])
    assert strip_compile_prefixes({"_orig_mod.encoder.x": 1}) == {"encoder.x": 1}


def test_a_compiled_fit_checkpoints_the_encoder_that_eval_and_export_load(one_layer_bert, data_dir, tmp_path):
    """``fit --model.compile=aot_eager`` (a backend without code generation: the Lightning path at
    the cost of a few seconds); eval and export read checkpoints through ``load_encoder``."""
    from lit_srl.checkpoint import load_encoder
    from support.helpers import fit_args, run_cli

    args = fit_args(tmp_path, str(one_layer_bert), "--model.pooler=cls", "--model.compile=aot_eager", steps=2, val_every=2)
    assert run_cli(args) == 0
    (last,) = tmp_path.rglob("last.ckpt")
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["compile"] == "aot_eager" and not [k for k in ckpt["state_dict"] if "_orig_mod" in k]
    encoder = load_encoder(last)
    weights = {k[len("encoder."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("encoder.")}
    assert all(torch.equal(encoder.state_dict()[k], v) for k, v in weights.items())


class _MeanOfEmbeddings(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(32, 4)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask[..., None].float()
        return (self.embed(input_ids) * mask).sum(1) / mask.sum(1)


def test_every_shape_a_run_can_show_is_compiled_none_runs_eagerly_past_dynamos_limit(monkeypatch):
    """Six buckets and a longer length, at the full and at a smaller last batch: 14 shapes, past
    dynamo's default recompile limit of 8, after which it would run each new shape eagerly."""
    import torch._dynamo

    config = torch._dynamo.config
    monkeypatch.setattr(config, "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit", 8)
    torch._dynamo.reset()
    graphs = []

    def counting_backend(graph, example_inputs):
        graphs.append(tuple(example_inputs[0].shape) if example_inputs else ())
        return graph.forward

    encoder = CompiledEncoder(_MeanOfEmbeddings(), backend=counting_backend, buckets=(4, 8, 12, 16, 20, 24))
    shapes = [(rows, length) for rows in (6, 5) for length in (3, 7, 11, 15, 19, 23, 30)]
    assert len(shapes) == len(encoder.shapes()) == 14
    try:
        for rows, length in shapes:
            ids = torch.randint(1, 32, (rows, length))
            out = encoder(input_ids=ids, attention_mask=torch.ones_like(ids))
            assert out.shape == (rows, 4)
    finally:
        torch._dynamo.reset()
    assert len(graphs) == 14, graphs

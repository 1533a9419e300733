"""The one encode path: token-sorted batches, rank shards, the gather, and its users agreeing."""

from __future__ import annotations

import copy
import itertools
import json
import threading

import numpy as np
import pytest
import torch

from support.helpers import REPO, read_scalars, run_cli
from lit_srl.encoder import SentenceEncoder
from lit_srl.evaluation import STSEvaluator
from lit_srl.evaluation.encoding import (
    SentenceShard,
    TokenisedSentences,
    encode_sentences,
    prefetched,
    sentence_batches,
    token_counts,
)

SENTENCES = [
    "a man is playing a guitar .",
    "hello",
    "a much longer sentence that forces the others in its batch to carry padding tokens",
    "two dogs run",
    "hello",
    "the cat sat on the mat while the dog slept by the door",
]


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    return SentenceEncoder(backbone=str(tiny_bert), pooler="avg")


def test_batches_are_sorted_by_token_count_and_cover_every_row_once(encoder):
    counts = token_counts(encoder.tokenizer, SENTENCES)
    batches = list(sentence_batches(encoder.tokenizer, SENTENCES, batch_size=4))
    order = torch.cat([index for index, _ in batches]).tolist()
    assert sorted(order) == list(range(len(SENTENCES)))
    assert list(counts[order]) == sorted(counts, reverse=True)
    for index, batch in batches:
        assert batch["input_ids"].shape == (len(index), int(counts[index].max()))


@pytest.mark.parametrize("side", ["right", "left"])
def test_batches_of_the_tokenised_sentences_equal_the_tokenizers_own_padded_batches(encoder, side):
    tokenizer = copy.deepcopy(encoder.tokenizer)
    tokenizer.padding_side = side
    tokens = TokenisedSentences(tokenizer, SENTENCES, max_length=8)  # 8 truncates the long ones
    for rows in ([2, 0, 1], [1, 4], [5]):
        expected = tokenizer([SENTENCES[r] for r in rows], padding=True, truncation=True, max_length=8, return_tensors="pt")
        got = tokens.batch(np.array(rows))
        assert set(got) == set(expected)
        for key in expected:
            assert torch.equal(got[key], expected[key]), key


class CountingTokenizer:
    """A tokenizer that counts its calls (and delegates everything to the real one)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.calls = tokenizer, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_the_sentences_are_tokenised_once_per_encode_and_once_per_shard(encoder, monkeypatch):
    counting = CountingTokenizer(encoder.tokenizer)
    monkeypatch.setattr(encoder, "tokenizer", counting)
    encode_sentences(encoder, SENTENCES * 3, batch_size=2)  # 9 batches
    assert counting.calls == 1
    counting.calls = 0
    shard = SentenceShard(SENTENCES, counting, 2, None, pin_memory=False)
    first, again = list(shard), list(shard)  # two validations of one fit
    assert counting.calls == 1
    for a, b in zip(first, again, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_prefetched_keeps_the_order_raises_the_producers_error_and_stops_when_closed():
    assert list(prefetched(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        list(prefetched(failing()))
    produced = []

    def endless():
        for i in itertools.count():
            produced.append(i)
            yield i

    stream = prefetched(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # joins the producer thread: it must notice and stop
    count = len(produced)
    assert count <= 4 and not any(t.name == "lit_srl-encode-prefetch" for t in threading.enumerate())


def test_token_sort_pads_far_less_than_a_character_sort_on_stsb_dev(encoder, data_dir):
    sentences = STSEvaluator.from_data_dir(data_dir, "STSBenchmark", "dev").sentences
    counts = token_counts(encoder.tokenizer, sentences)

    def padding(order):
        padded = sum(int(counts[order[i : i + 128]].max()) * len(order[i : i + 128]) for i in range(0, len(order), 128))
        return 1 - counts.sum() / padded

    ours = torch.cat([index for index, _ in sentence_batches(encoder.tokenizer, sentences, 128)]).numpy()
    by_chars = np.argsort([-len(s) for s in sentences], kind="stable")
    assert padding(ours) < 0.10 < 0.25 < padding(by_chars)  # measured: 7% and 31%


def test_encode_sentences_equals_encoding_one_sentence_at_a_time(encoder):
    encoder.train()
    together = encode_sentences(encoder, SENTENCES, batch_size=3)
    alone = torch.cat([encode_sentences(encoder, [s], batch_size=1) for s in SENTENCES])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    assert encoder.training, "the training mode is restored"
    rows = encode_sentences(encoder, SENTENCES, batch_size=2, indices=[5, 0, 2])
    torch.testing.assert_close(rows, together[[5, 0, 2]], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoder.encode(SENTENCES, batch_size=3), together)


@pytest.mark.parametrize("world", [1, 2, 4])
def test_rank_shards_are_disjoint_token_sorted_and_cover_the_sentences(encoder, world):
    seen = []
    for rank in range(world):
        batches = list(SentenceShard(SENTENCES, encoder.tokenizer, 2, None, rank, world))
        index = torch.cat([b["index"] for b in batches]).tolist() if batches else []
        assert len(batches) == len(SentenceShard(SENTENCES, encoder.tokenizer, 2, None, rank, world))
        counts = token_counts(encoder.tokenizer, [SENTENCES[i] for i in index])
        assert list(counts) == sorted(counts, reverse=True)
        seen += index
    assert sorted(seen) == list(range(len(SENTENCES)))


def test_in_training_validation_scores_what_eval_scores(tiny_checkpoint, tiny_bert, tmp_path, capsys):
    """``validate`` on a checkpoint and ``eval --split dev`` of it: one encode path, one score; the
    ``validate`` command prints it among its results too."""
    out = tmp_path / "eval.json"
    assert run_cli(["eval", "--model", str(tiny_checkpoint), "--tasks", "STSBenchmark", "--split", "dev",
                    "--device", "cpu", "--output", str(out)]) == 0
    expected = json.loads(out.read_text())["STSBenchmark"]["spearman"]
    root = tmp_path / "validate"
    assert run_cli([
        "validate", "--config", str(REPO / "configs" / "quickstart.yaml"), f"--model.backbone={tiny_bert}",
        "--model.pooler=avg", f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false",
        f"--ckpt_path={tiny_checkpoint}",
    ]) == 0
    (logged,) = [v for _, v in read_scalars(root)["val/stsb_spearman"]]
    assert logged == pytest.approx(expected, abs=1e-6)
    assert "val/stsb_spearman" in capsys.readouterr().out

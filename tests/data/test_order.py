"""Specifications for the permutation order (lit_srl.data.order, StreamingCorpus(order="permutation")):
every line once per epoch across ranks and workers, seeded by (seed, epoch), exact resume, and the
kept last batch."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import DataLoader

from lit_srl.data.corpus import StreamingCorpus
from lit_srl.data.order import batches_per_epoch, epoch_permutation, global_batches, index_batches

N_SENTENCES, BATCH, WORLD = 1003, 8, 2  # global batch 16: 62 full batches and a tail of 11


@pytest.fixture(autouse=True)
def _quiet_tokenizers(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert))


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"line {i}\n" for i in range(N_SENTENCES)))
    return path


def make(path, tokenizer, **kw) -> StreamingCorpus:
    kw = {"batch_size": BATCH, "seed": 7, "order": "permutation", **kw}
    return StreamingCorpus(files=[path], tokenizer=tokenizer, **kw)


def line_numbers(tokenizer, batches) -> list[list[int]]:
    """Each batch's corpus line numbers (the sentences are ``line <i>``)."""
    return [[int(s.split()[-1]) for s in tokenizer.batch_decode(b["input_ids"], skip_special_tokens=True)]
            for b in batches]


def run(dataset, workers: int = 2) -> list:
    return list(DataLoader(dataset, batch_size=None, num_workers=workers))


def epoch_lines(tokenizer, path, epoch=0, workers=2, **kw) -> list[list[list[int]]]:
    """Per rank of a simulated world of 2: its batches' line numbers in epoch ``epoch``."""
    ranks = []
    for rank in range(WORLD):
        ds = make(path, tokenizer, rank=rank, world_size=WORLD, **kw)
        ds.set_epoch(epoch)
        ranks.append(line_numbers(tokenizer, run(ds, workers)))
    return ranks


def test_two_ranks_with_two_workers_see_every_line_once_but_the_dropped_tail(corpus_file, tokenizer):
    ranks = epoch_lines(tokenizer, corpus_file)
    seen = [i for batches in ranks for batch in batches for i in batch]
    tail = set(epoch_permutation(N_SENTENCES, 7, 0)[-(N_SENTENCES % (BATCH * WORLD)):].tolist())
    assert len(ranks[0]) == len(ranks[1]) == N_SENTENCES // (BATCH * WORLD)
    assert len(seen) == len(set(seen)) and set(seen) == set(range(N_SENTENCES)) - tail
    assert all(len(batch) == BATCH for batches in ranks for batch in batches)


def test_kept_last_batch_gives_every_line_and_each_rank_an_equal_share(corpus_file, tokenizer):
    ranks = epoch_lines(tokenizer, corpus_file, drop_last=False)
    seen = [i for batches in ranks for batch in batches for i in batch]
    assert len(ranks[0]) == len(ranks[1]) == batches_per_epoch(N_SENTENCES, BATCH * WORLD, keep_last=True) == 63
    assert set(seen) == set(range(N_SENTENCES))
    assert len(ranks[0][-1]) == len(ranks[1][-1]) == 6  # the tail of 11, padded with 1 line to 12
    assert len(seen) == N_SENTENCES + 1 and ranks[1][-1][-1] == int(epoch_permutation(N_SENTENCES, 7, 0)[0])


def test_a_global_batch_is_the_same_set_for_any_number_of_ranks(corpus_file, tokenizer):
    one = line_numbers(tokenizer, run(make(corpus_file, tokenizer, batch_size=BATCH * WORLD), 0))
    two = epoch_lines(tokenizer, corpus_file, workers=0)
    assert [sorted(b) for b in one] == [sorted(r0 + r1) for r0, r1 in zip(*two)]


def test_the_order_is_seeded_by_seed_and_epoch(corpus_file, tokenizer):
    def order(epoch=0, seed=7):
        ds = make(corpus_file, tokenizer, seed=seed)
        ds.set_epoch(epoch)
        return line_numbers(tokenizer, run(ds, 0))

    first = order()
    assert first == order()
    assert order(epoch=1) != first and order(seed=8) != first
    assert sorted(i for b in first for i in b) != [i for b in first for i in b]  # not the file order


def test_same_order_for_zero_and_two_workers(corpus_file, tokenizer):
    assert epoch_lines(tokenizer, corpus_file, workers=0) == epoch_lines(tokenizer, corpus_file, workers=2)


@pytest.mark.parametrize("done", [5, 6])
def test_resume_mid_epoch_yields_exactly_the_remaining_batches(corpus_file, tokenizer, done):
    full = make(corpus_file, tokenizer, rank=1, world_size=WORLD, drop_last=False)
    full.set_epoch(3)
    uninterrupted = line_numbers(tokenizer, run(full))
    resumed = make(corpus_file, tokenizer, rank=1, world_size=WORLD, drop_last=False)
    resumed.load_state_dict({"epoch": 3, "batches_done": done})
    assert line_numbers(tokenizer, run(resumed)) == uninterrupted[done:]


def test_sentence_stream_is_the_epoch_order_cut_into_the_batches(corpus_file, tokenizer):
    ds = make(corpus_file, tokenizer, batch_size=16)
    ds.set_epoch(2)
    stream = [int(s.split()[-1]) for s in ds.sentence_stream()]
    assert stream == epoch_permutation(N_SENTENCES, 7, 2).tolist()
    assert [b for b in global_batches(stream, 16)] == line_numbers(tokenizer, run(ds, 0))


def test_batch_cutting_of_lists_and_index_arrays_agree():
    order = np.arange(23)
    for world, keep in [(1, False), (1, True), (3, True), (4, True)]:
        lists = list(global_batches(order.tolist(), 8, world, keep))
        arrays = [b.tolist() for b in index_batches(order, 8, world, keep)]
        assert lists == arrays and len(lists) == batches_per_epoch(23, 8, keep)
        assert len(lists[-1]) % world == 0
    assert batches_per_epoch(17, 8, keep_last=True) == 2  # a tail of one sentence has no negative: dropped

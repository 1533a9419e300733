"""Specifications for the cached line index (lit_srl.data.line_index): it counts exactly the
stream's sentences, is reused only while the corpus is unchanged and the file intact, lives beside
the corpus or in the user cache, and is written atomically once when several build it together."""

from __future__ import annotations

import gzip
import os
import threading

import pytest

from lit_srl.data.corpus import corpus_stats, iter_sentences
from lit_srl.data.line_index import CorpusIndex, load_or_build, user_cache_dir
from lit_srl.errors import LitSrlError

TRICKY = (
    b"first\n\n   \n\t\r\n"            # blank lines are not usable
    b"\xc2\xa0\xe3\x80\x80\n"           # only Unicode spaces (NBSP, ideographic): blank once stripped
    b"caf\xc3\xa9 \xff broken\r\n"      # a bad byte
    + b"long " * 40 + b"\n"             # cut to max_chars
    + b"last without newline"
)


@pytest.fixture(autouse=True)
def _user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "data" / "corpus.txt"
    path.parent.mkdir()
    path.write_bytes(TRICKY)
    return path


def test_index_counts_and_reads_exactly_the_stream_s_sentences(corpus, tmp_path):
    other = tmp_path / "data" / "other.txt"
    other.write_text("x\n\ny\n")
    index = CorpusIndex([corpus, other], max_chars=50)
    stream = list(iter_sentences([corpus, other], max_chars=50))
    assert len(index) == len(stream) == 6
    assert index.read(list(range(len(stream)))[::-1]) == stream[::-1]
    assert index.stats() == corpus_stats([corpus, other], max_chars=50)


def test_index_is_cached_beside_the_corpus_and_reused_while_it_is_unchanged(corpus):
    first = load_or_build(corpus)
    assert first.path == corpus.with_name("corpus.txt.lit_srl.idx") and first.path.stat().st_size == 80 + 8 * 4
    stamp = first.path.stat().st_mtime_ns
    assert load_or_build(corpus).path.stat().st_mtime_ns == stamp  # not rebuilt


def test_a_changed_corpus_is_indexed_again(corpus):
    load_or_build(corpus)
    corpus.write_bytes(b"one\ntwo\n")
    assert load_or_build(corpus).count == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_index_is_rebuilt_never_trusted(corpus, damage):
    path = load_or_build(corpus).path
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-3]
    elif damage == "flip":
        data[-8] ^= 0x01  # one offset's bit: the CRC catches it
    else:
        data = bytearray(b"not an index")
    path.write_bytes(bytes(data))
    index = load_or_build(corpus)
    assert index.offsets().tolist() == [0, 20, 36, 237]  # "first", "café …", "long …", "last …"


def test_a_read_only_folder_sends_the_index_to_the_user_cache(corpus, tmp_path):
    corpus.parent.chmod(0o555)
    try:
        index = load_or_build(corpus)
    finally:
        corpus.parent.chmod(0o755)
    assert index.path.parent == user_cache_dir() == tmp_path / "cache" / "lit_srl" / "line_index"
    assert list(corpus.parent.iterdir()) == [corpus]


def test_an_explicit_index_dir_is_used(corpus, tmp_path):
    index = load_or_build(corpus, index_dir=tmp_path / "indexes")
    assert index.path.parent == tmp_path / "indexes" and index.count == 4


def test_several_builders_at_once_write_one_valid_index(corpus):
    results, errors = [], []

    def build():
        try:
            results.append(load_or_build(corpus).offsets().tolist())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6 and all(r == results[0] for r in results)
    assert sorted(os.listdir(corpus.parent)) == ["corpus.txt", "corpus.txt.lit_srl.idx"]  # no temporary or lock left


def test_gzip_corpus_is_refused_in_one_line_naming_the_fix(tmp_path):
    path = tmp_path / "c.txt.gz"
    path.write_bytes(gzip.compress(b"a\nb\n"))
    with pytest.raises(LitSrlError, match=r"gzip-compressed .*gunzip -k .* or set data\.order=buffer"):
        load_or_build(path)


def test_no_writable_folder_is_one_line_naming_the_option(corpus, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir(mode=0o555)
    with pytest.raises(LitSrlError, match=r"no writable folder for the line index of .*corpus\.txt .* set data\.index_dir"):
        load_or_build(corpus, index_dir=folder)

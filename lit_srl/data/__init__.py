"""Data: the streamed, sharded training corpus, its epoch order and line index, and the downloader
for the data root."""

from lit_srl.data.corpus import (
    StreamingCorpus,
    check_corpus,
    check_decodable,
    corpus_stats,
    format_corpus_stats,
    iter_sentences,
    resolve_train_files,
)
from lit_srl.data.lines import MAX_CHARS, CorpusStats
from lit_srl.data.order import ORDERS, epoch_permutation, global_batches, shuffled_stream

__all__ = [
    "MAX_CHARS",
    "ORDERS",
    "CorpusStats",
    "StreamingCorpus",
    "check_corpus",
    "check_decodable",
    "corpus_stats",
    "epoch_permutation",
    "format_corpus_stats",
    "global_batches",
    "iter_sentences",
    "resolve_train_files",
    "shuffled_stream",
]

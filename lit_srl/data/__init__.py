"""Data: the streamed, sharded training corpus and the downloader for the data root."""

from lit_srl.data.corpus import (
    MAX_CHARS,
    CorpusStats,
    StreamingCorpus,
    check_corpus,
    corpus_stats,
    format_corpus_stats,
    global_batches,
    iter_sentences,
    resolve_train_files,
    shuffled_stream,
)

__all__ = [
    "MAX_CHARS",
    "CorpusStats",
    "StreamingCorpus",
    "check_corpus",
    "corpus_stats",
    "format_corpus_stats",
    "global_batches",
    "iter_sentences",
    "resolve_train_files",
    "shuffled_stream",
]

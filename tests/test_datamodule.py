"""SentenceDataModule: its own tokenizer, the streamed corpus, and token-sorted STS shards with their evaluator."""

from __future__ import annotations

import pytest
import torch

from lit_srl.datamodule import SentenceDataModule
from lit_srl.errors import LitSrlError
from lit_srl.evaluation import STSEvaluator
from lit_srl.evaluation.encoding import token_counts


def test_the_tokenizer_is_the_backbone_s_own(tiny_bert, data_dir):
    datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir))
    ids = datamodule.tokenizer(["a man plays a guitar ."])["input_ids"][0]
    assert ids[0] == datamodule.tokenizer.cls_token_id and len(ids) == 8
    assert datamodule.tokenizer is datamodule.tokenizer  # loaded once


def test_without_a_tokenizer_the_error_names_the_setting(data_dir):
    with pytest.raises(LitSrlError, match="data.tokenizer is not set"):
        SentenceDataModule(data_dir=str(data_dir)).tokenizer


@pytest.mark.parametrize("kwargs,needle", [({"batch_size": 1}, "data.batch_size is 1"), ({"max_length": 2}, "data.max_length is 2")])
def test_bad_sizes_are_refused_at_construction(kwargs, needle):
    with pytest.raises(LitSrlError, match=needle):
        SentenceDataModule(tokenizer="minilm", **kwargs)


def test_validation_loader_serves_token_sorted_stsb_dev_with_its_evaluator(tiny_bert, data_dir):
    datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir), eval_batch_size=256)
    datamodule.setup("validate")
    loader = datamodule.val_dataloader()
    evaluator = loader.dataset.evaluator
    assert isinstance(evaluator, STSEvaluator) and [t.name for t in evaluator.tasks] == ["STSBenchmark"]
    assert evaluator.tasks[0].split == "dev"
    index = torch.cat([batch["index"] for batch in loader])
    assert sorted(index.tolist()) == list(range(len(evaluator.sentences)))
    counts = token_counts(datamodule.tokenizer, [evaluator.sentences[i] for i in index])
    assert list(counts) == sorted(counts, reverse=True)
    assert len(loader) == -(-len(evaluator.sentences) // 256)


def test_test_loader_covers_the_seven_tasks(tiny_bert, data_dir):
    datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir))
    datamodule.setup("test")
    evaluator = datamodule.test_dataloader().dataset.evaluator
    assert [t.name for t in evaluator.tasks] == [
        "STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness"
    ]


def test_training_stream_is_seeded_by_seed_everything_unless_data_seed_is_given(tiny_bert, data_dir, monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    assert SentenceDataModule(tokenizer=str(tiny_bert)).shuffle_seed() == 7
    assert SentenceDataModule(tokenizer=str(tiny_bert), seed=3).shuffle_seed() == 3
    monkeypatch.delenv("PL_GLOBAL_SEED")
    assert SentenceDataModule(tokenizer=str(tiny_bert)).shuffle_seed() == 42


def test_fit_setup_streams_tokenised_batches_of_the_corpus(tiny_bert, data_dir):
    datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir), batch_size=4, num_workers=0)
    datamodule.setup("fit")
    assert datamodule.num_sentences == 11914
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["input_ids"].shape[0] == 4 and batch["input_ids"].shape[1] <= 32


def small_corpus(tmp_path, lines: int = 1003, bad: int = 0):
    """``lines`` sentences, the first ``bad`` of them with a byte that is not UTF-8."""
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"".join((b"\xff " if i < bad else b"") + f"line {i}\n".encode() for i in range(lines)))
    return path


def fit_datamodule(tiny_bert, data_dir, path, **kw) -> SentenceDataModule:
    datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir), train_files=str(path),
                                    batch_size=8, num_workers=0, **kw)
    datamodule.setup("fit")
    return datamodule


def test_default_order_is_the_whole_corpus_permutation_counted_by_its_index(tiny_bert, data_dir, tmp_path):
    datamodule = fit_datamodule(tiny_bert, data_dir, small_corpus(tmp_path), count_sentences=False)
    assert datamodule._train_set.order == "permutation" and datamodule.num_sentences == 1003
    assert len(datamodule.train_dataloader()) == 1003 // 8


@pytest.mark.parametrize("order", ["permutation", "buffer"])
def test_kept_last_batch_adds_the_step_to_the_epoch_s_length(tiny_bert, data_dir, tmp_path, order):
    datamodule = fit_datamodule(tiny_bert, data_dir, small_corpus(tmp_path), order=order, drop_last=False)
    loader = datamodule.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == 126  # 125 of 8 and the tail of 3: what the LR schedule counts
    assert batches[-1]["input_ids"].shape[0] == 3


def test_an_unknown_order_is_one_line_listing_the_orders():
    with pytest.raises(LitSrlError, match="unknown data.order 'random'; valid choices: permutation, buffer"):
        SentenceDataModule(tokenizer="minilm", order="random")


@pytest.mark.parametrize("order", ["permutation", "buffer"])
def test_a_mostly_undecodable_corpus_stops_in_one_line_naming_the_file(tiny_bert, data_dir, tmp_path, order):
    path = small_corpus(tmp_path, lines=100, bad=60)
    with pytest.raises(LitSrlError, match=r"60 of 100 lines \(60\.0%\) of corpus .*corpus\.txt have bytes that are not UTF-8"):
        fit_datamodule(tiny_bert, data_dir, path, order=order)


def test_a_corpus_with_some_undecodable_lines_warns_and_trains(tiny_bert, data_dir, tmp_path):
    with pytest.warns(UserWarning, match=r"2 of 100 lines \(2\.0%\) .* not UTF-8"):
        datamodule = fit_datamodule(tiny_bert, data_dir, small_corpus(tmp_path, lines=100, bad=2))
    assert datamodule.num_sentences == 100

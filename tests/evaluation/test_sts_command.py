"""`python -m lit_srl eval` (lit_srl.evaluation.command.main): table, JSON, models, errors."""

from __future__ import annotations

import json

import pytest
import torch

from support.helpers import data_root
from lit_srl.errors import LitSrlError
from lit_srl.evaluation import STSEvaluator
from lit_srl.evaluation.command import format_table, load_eval_encoder, main

DATA = data_root()
needs_data = pytest.mark.skipif(not (DATA / "senteval").is_dir(), reason="no SentEval data")


@pytest.fixture(scope="session")
def tiny_bert_dir(tiny_bert):
    """conftest's random 2-layer, 32-wide BERT with the real uncased tokenizer."""
    return tiny_bert


def _args(tiny, *extra):
    return ["--model", str(tiny), "--data-dir", str(DATA), "--device", "cpu", *extra]


@needs_data
def test_eval_prints_table_and_writes_json(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "res" / "results.json"
    assert main(_args(tiny_bert_dir, "--tasks", "STS13,STSBenchmark", "--pooler", "avg", "--output", str(out))) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    assert set(results) == {"STS13", "STSBenchmark", "avg", "meta"}
    assert results["STSBenchmark"]["n_pairs"] == 1379 and results["STS13"]["n_pairs"] == 1500
    assert set(results["STS13"]["subsets"]) == {"FNWN", "headlines", "OnWN"}
    assert -1 <= results["STSBenchmark"]["spearman"] <= 1
    assert results["avg"] == pytest.approx((results["STS13"]["spearman"] + results["STSBenchmark"]["spearman"]) / 2)
    meta = results["meta"]
    assert meta["pooler"] == "avg" and meta["split"] == "test" and meta["torch"] == torch.__version__
    assert {"model", "data_dir", "lit_srl", "date"} <= set(meta)
    # ×100 with two decimals, subsets indented
    assert f"{100 * results['STSBenchmark']['spearman']:.2f}" in printed
    assert "\n    headlines" in printed and "avg" in printed


@needs_data
def test_existing_output_is_refused_unless_overwrite(tiny_bert_dir, tmp_path):
    out = tmp_path / "results.json"
    out.write_text("{}")
    with pytest.raises(LitSrlError, match=r"already exists; pass --overwrite"):
        main(_args(tiny_bert_dir, "--tasks", "STSBenchmark", "--split", "dev", "--output", str(out)))
    main(_args(tiny_bert_dir, "--tasks", "STSBenchmark", "--split", "dev", "--output", str(out), "--overwrite"))
    assert json.loads(out.read_text())["STSBenchmark"]["n_pairs"] == 1500


@needs_data
def test_evaluate_is_score_of_encode_and_bf16_is_close(tiny_bert_dir):
    from lit_srl.encoder import SentenceEncoder

    from lit_srl.evaluation import STSTask, load_task

    encoder = SentenceEncoder(str(tiny_bert_dir), pooler="avg")
    dev = load_task("STSBenchmark", "dev", DATA)
    n = 300  # a slice keeps the CPU bf16 pass short
    ev = STSEvaluator([STSTask(dev.name, dev.split, dev.sentences1[:n], dev.sentences2[:n], dev.scores[:n], dev.subsets[:n])])
    results = ev.evaluate(encoder, batch_size=64)
    embeddings = ev.encode(encoder, batch_size=64)
    assert results == ev.score(embeddings) and results["STSBenchmark"]["n_pairs"] == n
    # token-length batches change only the padding: same embeddings as encoder.encode
    torch.testing.assert_close(embeddings, encoder.encode(ev.sentences, batch_size=64), atol=1e-5, rtol=1e-5)
    bf16 = ev.encode(encoder, batch_size=64, precision="bf16")
    assert bf16.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(bf16, embeddings).min() > 0.99


def test_pooler_defaults_to_sentence_transformers_pooling_else_cls_before_pooler(tiny_bert_dir, tmp_path):
    _, pooler = load_eval_encoder(str(tiny_bert_dir))
    assert pooler == "cls_before_pooler"
    st_dir = tmp_path / "st_model"
    st_dir.mkdir()
    for item in tiny_bert_dir.iterdir():
        (st_dir / item.name).symlink_to(item)
    (st_dir / "1_Pooling").mkdir()
    (st_dir / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    encoder, pooler = load_eval_encoder(str(st_dir))
    assert pooler == "avg" and encoder.pooler == "avg" and encoder.head is None


def test_pooler_cls_on_a_hugging_face_model_uses_its_pooler_layer(tiny_bert_dir):
    from transformers import AutoModel

    encoder, _ = load_eval_encoder(str(tiny_bert_dir), "cls")
    full = AutoModel.from_pretrained(tiny_bert_dir).eval()
    batch = encoder.tokenize(["a man is playing a guitar .", "hello"])
    with torch.inference_mode():
        expected = full(**batch).pooler_output
    torch.testing.assert_close(encoder.encode(["a man is playing a guitar .", "hello"]), expected)


def test_unknown_pooler_and_task_list_the_valid_ones(tiny_bert_dir):
    with pytest.raises(LitSrlError, match=r"unknown pooler 'mean'; valid choices: cls, cls_before_pooler, avg, avg_first_last"):
        main(_args(tiny_bert_dir, "--pooler", "mean"))
    with pytest.raises(LitSrlError, match=r"unknown task 'STSB'; valid choices: .*STSBenchmark"):
        main(_args(tiny_bert_dir, "--tasks", "STSB"))


def test_missing_model_path_says_so(tmp_path):
    for missing in (tmp_path / "nope", tmp_path / "last.ckpt"):
        with pytest.raises(LitSrlError, match=rf"{missing} does not exist"):
            main(["--model", str(missing), "--data-dir", str(DATA)])


def test_dev_split_with_a_yearly_task_is_refused(tiny_bert_dir):
    with pytest.raises(LitSrlError, match=r"STS12 has no 'dev' split"):
        main(_args(tiny_bert_dir, "--tasks", "STS12", "--split", "dev"))


def test_checkpoint_brings_its_pooler_and_a_different_one_is_refused(tiny_checkpoint):
    encoder, pooler = load_eval_encoder(str(tiny_checkpoint))
    assert pooler == "avg" == encoder.pooler
    assert load_eval_encoder(str(tiny_checkpoint), "avg")[1] == "avg"
    with pytest.raises(LitSrlError, match=r"trained with pooler 'avg', not 'cls'; drop --pooler"):
        load_eval_encoder(str(tiny_checkpoint), "cls")


def test_eval_of_a_checkpoint_scores_its_trained_weights(tiny_checkpoint, tmp_path):
    from lit_srl.checkpoint import load_encoder
    from lit_srl.evaluation import STSEvaluator

    out = tmp_path / "ckpt.json"
    assert main(["--model", str(tiny_checkpoint), "--tasks", "STSBenchmark", "--split", "dev",
                 "--data-dir", str(DATA), "--output", str(out)]) == 0
    expected = STSEvaluator.from_data_dir(DATA, ["STSBenchmark"], "dev").evaluate(load_encoder(tiny_checkpoint))
    got = json.loads(out.read_text())["STSBenchmark"]["spearman"]
    assert got == pytest.approx(expected["STSBenchmark"]["spearman"], abs=1e-9)


def test_format_table_handles_nan():
    text = format_table({"STSBenchmark": {"spearman": float("nan"), "pearson": 0.5, "n_pairs": 3}, "avg": float("nan")})
    assert "nan" in text and "50.00" in text


@pytest.mark.minilm
@needs_data
def test_minilm_stsb_test_spearman_is_0_8203(tmp_path):
    out = tmp_path / "minilm.json"
    main(["--model", "minilm", "--pooler", "avg", "--tasks", "STSBenchmark", "--data-dir", str(DATA),
          "--device", "cpu", "--output", str(out)])
    results = json.loads(out.read_text())
    assert round(results["STSBenchmark"]["spearman"], 4) == 0.8203
    assert results["meta"]["pooler"] == "avg"

"""STS scoring: SentEval's "all" setting, sentence-transformers' numbers, shards."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

from support.helpers import data_root
from lit_srl.evaluation import STSEvaluator, STSTask, correlations, gather_shards, paired_cosine, shard

DATA = data_root()
needs_data = pytest.mark.skipif(not (DATA / "senteval").is_dir(), reason="no SentEval data")


@pytest.fixture(scope="module")
def full_suite():
    ev = STSEvaluator.from_data_dir(DATA, split="test")
    # Embeddings correlated with nothing in particular but deterministic; 16 dims.
    emb = torch.randn(len(ev), 16, generator=torch.Generator().manual_seed(0))
    return ev, emb


def _senteval_run(task: STSTask, vectors: dict[str, np.ndarray]) -> dict:
    """SentEval's STSEval.run as SimCSE modified it: per subset, then every subset pooled.

    The one deliberate difference: a sentence paired with itself scores exactly 1 (SentEval's
    formula gives 1 ± rounding, which orders these tied pairs arbitrarily)."""
    def cosine(u, v):
        if u is v:
            return 1.0
        return np.nan_to_num(np.dot(u, v) / (np.sqrt(np.dot(u, u)) * np.sqrt(np.dot(v, v))))

    out, all_sys, all_gold = {}, [], []
    for subset in task.subset_names:
        idx = [i for i, s in enumerate(task.subsets) if s == subset]
        sys_scores = [cosine(vectors[task.sentences1[i]], vectors[task.sentences2[i]]) for i in idx]
        gold = [task.scores[i] for i in idx]
        all_sys += sys_scores
        all_gold += gold
        out[subset] = (spearmanr(sys_scores, gold)[0], pearsonr(sys_scores, gold)[0], len(idx))
    weights = [v[2] for v in out.values()]
    out["wmean"] = np.average([v[0] for v in out.values()], weights=weights)
    out["all"] = (spearmanr(all_sys, all_gold)[0], pearsonr(all_sys, all_gold)[0])
    return out


@needs_data
def test_yearly_tasks_match_senteval_all_setting(full_suite):
    ev, emb = full_suite
    results = ev.score(emb)
    vectors = {s: emb[i].double().numpy() for i, s in enumerate(ev.sentences)}
    for task in ev.tasks[:5]:
        ref = _senteval_run(task, vectors)
        got = results[task.name]
        assert got["spearman"] == pytest.approx(ref["all"][0], abs=1e-12)
        assert got["pearson"] == pytest.approx(ref["all"][1], abs=1e-12)
        assert got["wmean_spearman"] == pytest.approx(ref["wmean"], abs=1e-12)
        for subset, (rho, r, n) in ((k, v) for k, v in ref.items() if k not in ("all", "wmean")):
            assert got["subsets"][subset] == pytest.approx({"spearman": rho, "pearson": r, "n_pairs": n}, abs=1e-12)
        assert got["n_pairs"] == len(task)


@needs_data
def test_scores_match_sentence_transformers_to_1e6(full_suite):
    from sentence_transformers.util import pairwise_cos_sim

    ev, emb = full_suite
    results = ev.score(emb)
    assert set(results) == {t.name for t in ev.tasks} | {"avg"}
    for task in ev.tasks:
        i1, i2 = ev.pairs[task.name]
        cos = pairwise_cos_sim(emb[i1], emb[i2]).numpy()  # float32, as EmbeddingSimilarityEvaluator
        cos[i1 == i2] = 1.0  # identical sentences: exactly 1 (float32 gives 1 ± 6e-8, in any order)
        assert results[task.name]["spearman"] == pytest.approx(spearmanr(task.scores, cos)[0], abs=1e-6)
        assert results[task.name]["pearson"] == pytest.approx(pearsonr(task.scores, cos)[0], abs=1e-6)
        assert isinstance(results[task.name]["spearman"], float)
    assert results["avg"] == pytest.approx(np.mean([results[t.name]["spearman"] for t in ev.tasks]))


def test_score_accepts_numpy_and_checks_the_shape():
    task = STSTask("STSBenchmark", "dev", ["a", "b", "c"], ["b", "c", "a"], np.array([1.0, 2.0, 3.0]))
    ev = STSEvaluator([task])
    assert ev.sentences == ["a", "b", "c"]
    emb = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    sims = ev.similarities(emb)["STSBenchmark"]
    np.testing.assert_allclose(sims, [np.sqrt(0.5), np.sqrt(0.5), 0.0])
    with pytest.raises(ValueError, match="shape"):
        ev.score(emb[:2])


def test_zero_vector_scores_zero_and_constant_input_gives_nan():
    assert paired_cosine(np.zeros((1, 3)), np.ones((1, 3))).tolist() == [0.0]
    rho, r = correlations([0.5, 0.5, 0.5], [1.0, 2.0, 3.0])
    assert np.isnan(rho) and np.isnan(r)


@pytest.mark.parametrize("n,world", [(10, 3), (7, 1), (2, 4), (26289, 8)])
def test_shards_are_disjoint_and_cover_in_order(n, world):
    parts = [shard(n, r, world) for r in range(world)]
    assert [i for p in parts for i in p] == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_gather_shards_puts_every_rank_s_rows_in_sentence_order_and_drops_the_padding():
    """The all-gather of padded shards (what LightningModule.all_gather returns: (w, m, …))."""
    n, world, h = 10, 3, 4
    full = torch.arange(n * h, dtype=torch.float32).reshape(n, h)
    # each rank holds its shard's rows in its own (token-sorted) order
    local = {r: torch.tensor(list(shard(n, r, world)))[torch.randperm(len(shard(n, r, world)))] for r in range(world)}
    calls = []

    def all_gather_of(rank):
        def all_gather(tensor):
            calls.append(tensor.shape)
            padded = []
            for r in range(world):
                mine = local[r] if tensor.dtype == torch.long else full[local[r]]
                pad = -(-n // world) - len(local[r])
                filler = mine.new_full((pad, *mine.shape[1:]), -1 if tensor.dtype == torch.long else 0)
                padded.append(torch.cat([mine, filler]))
            return torch.stack(padded)
        return all_gather

    for rank in range(world):
        calls.clear()
        got = gather_shards(local[rank], full[local[rank]], n, world, all_gather_of(rank))
        assert torch.equal(got, full)
        assert len(calls) == 2  # one gather of the indices, one of the embeddings
    assert torch.equal(gather_shards(torch.arange(n).flip(0), full.flip(0), n), full)
    with pytest.raises(RuntimeError, match="gathered 9 embeddings, expected 10"):
        gather_shards(torch.arange(9), full[:9], n)


def test_shard_rejects_bad_rank():
    with pytest.raises(ValueError):
        shard(10, 3, 3)


def test_a_sentence_paired_with_itself_scores_exactly_one():
    task = STSTask("STS12", "test", ["a", "b", "a", "z"], ["a", "b", "b", "z"], np.array([5.0, 5.0, 1.0, 5.0]))
    ev = STSEvaluator([task])
    emb = torch.tensor([[0.1, 0.7, 0.3], [1.0, 0.2, 0.3], [0.0, 0.0, 0.0]])  # z is a zero vector
    sims = ev.similarities(emb)["STS12"]
    assert sims[0] == 1.0 and sims[1] == 1.0 and sims[3] == 0.0

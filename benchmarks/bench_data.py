"""Streaming data: tokenised sentences/s and peak memory of StreamingCorpus + DataLoader; and, with
``--orders``, how near in the file a batch's sentences lie under each data order.

    python benchmarks/bench_data.py [--sizes 10000 1000000] [--workers 0 1 2] [--batch-size 64]
        [--max-length 32] [--order permutation|buffer] [--shuffle-buffer 10000]
        [--backbone minilm|FOLDER] [--data-dir D]
    python benchmarks/bench_data.py --orders [--order-batches 128 512] [--window 40] [--seeds 1 2 3]

Generates corpora of ``--sizes`` lines in a temporary folder from the lines of the wiki1m head
(``--source`` under the data root), repeated in a fresh shuffled order each round, then streams
each one through ``StreamingCorpus`` (``--order``: the permutation through a line index built in
the temporary folder, or the seeded shuffle buffer; dynamic padding, the tokenizer object as
``SentenceDataModule`` passes it) and the training DataLoader (``training_loader``: batches cross
from the workers as ``TokenBatch``) with ``k`` workers for every ``k`` of ``--workers``, once to
the end. Every measurement runs in a fresh Python process, so its
peak resident memory (``resource.getrusage``: ``ru_maxrss`` of the process, and of its largest
DataLoader worker) belongs to that measurement alone. The memory of a streamed corpus should not
grow with its size: the table compares the peaks of the smallest and the largest corpus (in the
permutation order each process holds the epoch's permutation and touches the mapped index: 16
bytes a line, which the flat test adds to its tolerance).

``--orders`` (no tokenising): for each order and batch size, the mean number of pairs of sentences
in one batch that lie within ``--window`` lines of each other in the file, and the mean span of a
batch in lines, over the first epoch of each seed; on the source corpus (``--source``, wiki1m_head)
and on a corpus of 1,000,000 lines (SimCSE's wiki1m: the figures depend only on line positions, so
the line numbers stand for it); plus the line index's size on disk, build time and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line  # noqa: E402

#: Peak-memory growth (largest vs smallest corpus) still counted as flat: this many MiB, or this
#: share of the difference in corpus file size, whichever is larger.
FLAT_MIB, FLAT_SHARE = 16.0, 0.10
#: What the permutation order holds by design, per corpus line and process: its int64 permutation
#: and the pages of the memory-mapped line index it touches (8 + 8 bytes).
PERMUTATION_BYTES_PER_LINE = 16


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000], help="corpus lines")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader workers")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--order", choices=["permutation", "buffer"], default="permutation")
    parser.add_argument("--shuffle-buffer", type=int, default=10_000)
    parser.add_argument("--orders", action="store_true", help="report the orders' near-duplicate pairs instead")
    parser.add_argument("--order-batches", type=int, nargs="+", default=[64, 128, 512])
    parser.add_argument("--window", type=int, default=40, help="lines apart counted as near (--orders)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--backbone", default="minilm", help="tokenizer: minilm, bert-base (same vocab) or a folder")
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"), help="the data root")
    parser.add_argument("--source", default="corpus/wiki1m_head.txt", help="lines to repeat, under the data root")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # child mode: one corpus file
    args = parser.parse_args(argv)
    if min(args.sizes) < args.batch_size or min(args.workers) < 0:
        parser.error("every --sizes must be ≥ --batch-size and --workers ≥ 0")
    return args


def tokenizer_folder(backbone: str) -> str:
    from lit_srl.backbones import minilm_path

    if backbone in ("minilm", "bert-base"):  # bert-base-uncased's vocabulary either way
        return str(minilm_path())
    return backbone


def generate(source: Path, lines: int, out: Path, seed: int = 0) -> int:
    """Write ``lines`` lines from ``source`` (each round a new shuffle of its lines); file size in bytes."""
    base = [line.strip() for line in source.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not base:
        raise SystemExit(f"error: {source} has no non-empty lines")
    rng = random.Random(seed)
    written = 0
    with open(out, "w", encoding="utf-8") as f:
        while written < lines:
            order = base[:]
            rng.shuffle(order)
            chunk = order[: lines - written]
            f.write("\n".join(chunk) + "\n")
            written += len(chunk)
    return out.stat().st_size


# ------------------------------------------------------------------------------ child mode
def measure(args) -> dict:
    """Stream one corpus once with ``args.workers[0]`` workers; rates and peak RSS (KiB)."""
    import resource

    import torch
    from transformers import AutoTokenizer

    from lit_srl.data.corpus import StreamingCorpus
    from lit_srl.datamodule import training_loader

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder(args.backbone))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dataset = StreamingCorpus(
        files=[Path(args.measure)], tokenizer=tokenizer, batch_size=args.batch_size, max_length=args.max_length,
        order=args.order, shuffle=True, shuffle_buffer=args.shuffle_buffer, seed=42,
        index_dir=Path(args.measure).parent,
    )
    loader = training_loader(dataset, args.workers[0])
    sentences = tokens = 0
    start = time.perf_counter()
    for batch in loader:
        sentences += int(batch["input_ids"].shape[0])
        tokens += int(batch["attention_mask"].sum())
    seconds = time.perf_counter() - start
    del loader  # workers are joined when the iterator is exhausted; RUSAGE_CHILDREN counts them
    return {
        "sentences": sentences, "tokens": tokens, "seconds": seconds,
        "rss_before_kib": before,
        "rss_main_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_worker_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def run_child(args, corpus: Path, workers: int) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--measure", str(corpus), "--workers", str(workers),
        "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
        "--order", args.order, "--shuffle-buffer", str(args.shuffle_buffer), "--backbone", args.backbone, "--sizes", str(args.batch_size),
    ]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"error: measurement {corpus.name} workers={workers} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------- report
def mib(kib: float) -> float:
    return kib / 1024


def report(args, sizes_bytes: dict[int, int], results: dict[tuple[int, int], dict]) -> str:
    lines = [
        "## Streaming data (StreamingCorpus + DataLoader)",
        "",
        f"- corpora: {', '.join(f'{n:,} lines ({b / 2**20:.1f} MiB)' for n, b in sizes_bytes.items())}, generated from "
        f"{args.source} (its lines repeated, each round reshuffled)",
        f"- batch {args.batch_size}, max length {args.max_length}, order {_order_name(args)}, "
        f"tokenizer of {args.backbone}; one full pass per measurement, each in a fresh process "
        "(torch threads 1, TOKENIZERS_PARALLELISM=false)",
        "- peak RSS from resource.getrusage (ru_maxrss): the main process, and the largest DataLoader worker "
        "(forked, so it shares the main process's pages); 'at start' is the main process after imports and "
        "loading the tokenizer",
        f"- machine: {machine_line()}",
        "",
        "| corpus lines | workers | sentences/s | tokens/s | seconds | RSS at start (MiB) | peak RSS main (MiB) | peak RSS worker (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (size, workers), r in sorted(results.items()):
        worker_rss = f"{mib(r['rss_worker_kib']):.0f}" if workers else "–"
        lines.append(
            f"| {size:,} | {workers} | {r['sentences'] / r['seconds']:,.0f} | {r['tokens'] / r['seconds']:,.0f} | "
            f"{r['seconds']:.1f} | {mib(r['rss_before_kib']):.0f} | {mib(r['rss_main_kib']):.0f} | "
            f"{worker_rss} |"
        )
    small, large = min(sizes_bytes), max(sizes_bytes)
    if small != large:
        tolerance = max(FLAT_MIB, FLAT_SHARE * (sizes_bytes[large] - sizes_bytes[small]) / 2**20)
        by_design = PERMUTATION_BYTES_PER_LINE * (large - small) / 2**20 if args.order == "permutation" else 0.0
        lines += [
            "",
            f"Peak memory, {large:,} vs {small:,} lines (flat = growth ≤ {tolerance + by_design:.0f} MiB, the larger of "
            f"{FLAT_MIB:.0f} MiB and {FLAT_SHARE:.0%} of the {(sizes_bytes[large] - sizes_bytes[small]) / 2**20:.0f} MiB "
            "difference in corpus size"
            + (f", plus {PERMUTATION_BYTES_PER_LINE} bytes a line of the permutation order ({by_design:.0f} MiB: the "
               "epoch's permutation and the touched pages of the mapped index)" if by_design else "") + "):",
            "",
            "| workers | main: growth (MiB) | worker: growth (MiB) | flat |",
            "|---:|---:|---:|---|",
        ]
        for workers in args.workers:
            a, b = results[(small, workers)], results[(large, workers)]
            main_growth = mib(b["rss_main_kib"] - a["rss_main_kib"])
            worker_growth = mib(b["rss_worker_kib"] - a["rss_worker_kib"]) if workers else 0.0
            flat = max(main_growth, worker_growth) <= tolerance + by_design
            lines.append(f"| {workers} | {main_growth:+.1f} | {worker_growth:+.1f} | {'yes' if flat else '**no**'} |")
    return "\n".join(lines) + "\n"


def _order_name(args) -> str:
    return f"shuffle buffer {args.shuffle_buffer:,}" if args.order == "buffer" else "whole-corpus permutation"


# ------------------------------------------------------------------------------ --orders
def epoch_lines(order: str, lines: int, seed: int, buffer: int) -> np.ndarray:
    """The file line numbers of epoch 0 in ``order`` (exactly as StreamingCorpus orders them)."""
    from lit_srl.data.order import epoch_permutation, shuffled_stream

    if order == "permutation":
        return epoch_permutation(lines, seed, 0)
    return np.fromiter(shuffled_stream(range(lines), buffer, seed, 0), dtype=np.int64, count=lines)


def near_pairs(order: np.ndarray, batch: int, window: int) -> tuple[float, float]:
    """Mean over the full batches of (pairs within ``window`` lines of each other, span in lines)."""
    batches = np.sort(order[: len(order) // batch * batch].reshape(-1, batch), axis=1)
    # in a sorted batch, the pairs (i, j > i) within the window: j - i = #{k ≤ i + window} − i − 1
    ahead = np.stack([np.searchsorted(row, row + window, side="right") for row in batches])
    pairs = (ahead - np.arange(batch) - 1).sum(axis=1)
    return float(pairs.mean()), float((batches[:, -1] - batches[:, 0]).mean())


def index_cost(corpus: Path, folder: Path) -> dict:
    """Build the line index of ``corpus`` into ``folder``: bytes on disk, seconds, peak RSS growth."""
    import resource

    from lit_srl.data.line_index import CorpusIndex

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    index = CorpusIndex([corpus], index_dir=folder)
    seconds = time.perf_counter() - start
    return {"lines": len(index), "bytes": index.nbytes(), "seconds": seconds,
            "rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}


def orders_report(args, source: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:  # first: peak RSS growth is the index's own
        generated = Path(tmp) / "corpus_1000000.txt"
        generate(source, 1_000_000, generated)
        costs = [(source, index_cost(source, Path(tmp))), (generated, index_cost(generated, Path(tmp)))]
    head_lines = costs[0][1]["lines"]
    corpora = [(f"{source.name} ({head_lines:,} lines)", head_lines), ("1,000,000 lines (wiki1m's size)", 1_000_000)]
    lines = [
        "## Data order: near-duplicate sentences in a batch",
        "",
        f"- pairs of sentences of one batch within {args.window} lines of each other in the file, and the batch's span "
        f"(last − first line), mean over the full batches of epoch 0, averaged over seeds {', '.join(map(str, args.seeds))}",
        f"- orders: `permutation` (data.order default; the whole corpus shuffled each epoch) and `buffer` "
        f"(the {args.shuffle_buffer:,}-line shuffle buffer); one rank (the global batch)",
        f"- machine: {machine_line()}",
        "",
        "| corpus | batch | buffer: pairs | permutation: pairs | buffer: span (lines) | permutation: span (lines) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, n in corpora:
        cache = {o: [epoch_lines(o, n, s, args.shuffle_buffer) for s in args.seeds] for o in ("buffer", "permutation")}
        for batch in args.order_batches:
            got = {o: np.mean([near_pairs(e, batch, args.window) for e in cache[o]], axis=0) for o in cache}
            lines.append(f"| {name} | {batch} | {got['buffer'][0]:.1f} | {got['permutation'][0]:.2f} | "
                         f"{got['buffer'][1]:,.0f} | {got['permutation'][1]:,.0f} |")
    lines += [
        "",
        "Line index (permutation order): built once, cached; mapped into memory (shared page cache); each loader "
        "process also holds the epoch's permutation (int64, 8 bytes a line):",
        "",
        "| corpus | lines | index on disk | build s | build peak RSS growth | permutation per process |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for corpus, c in costs:
        lines.append(f"| {corpus.name} | {c['lines']:,} | {c['bytes'] / 2**20:.2f} MiB | {c['seconds']:.1f} | "
                     f"{mib(c['rss_growth_kib']):.1f} MiB | {8 * c['lines'] / 2**20:.2f} MiB |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args)))
        return 0
    source = Path(args.source)
    source = source if source.is_absolute() else Path(args.data_dir) / source
    if not source.is_file():
        raise SystemExit(f"error: source corpus {source} not found; set --data-dir or LIT_SRL_DATA")
    if args.orders:
        print(orders_report(args, source))
        return 0
    results: dict[tuple[int, int], dict] = {}
    sizes_bytes: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        for size in sorted(set(args.sizes)):
            corpus = Path(tmp) / f"corpus_{size}.txt"
            sizes_bytes[size] = generate(source, size, corpus)
            for workers in args.workers:
                results[(size, workers)] = r = run_child(args, corpus, workers)
                print(f"{size} lines, {workers} workers: {r['sentences'] / r['seconds']:.0f} sentences/s, "
                      f"peak RSS {mib(r['rss_main_kib']):.0f} MiB", file=sys.stderr, flush=True)
            corpus.unlink()
    print(report(args, sizes_bytes, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: SentEval transfer evaluation against STS evaluation, all-MiniLM-L6-v2 on this machine.

No real transfer data is reachable here, so the seven tasks are *synthetic stand-ins* of the real
tasks' sizes (× ``--scale``): sentences drawn from the training corpus (a repeat gets a number
appended, so each row is a sentence to encode, as in the real tasks), labels from a hash of
their first word (partly learnable, so early stopping behaves roughly as on real data), written
in SentEval's file formats and read by the real loaders. The accuracies are meaningless; the
times are what this measures. STS is the real 7-task suite.

    python benchmarks/bench_transfer.py [--data-dir D] [--scale 1.0] [--mode full|fast] [--tasks MR,TREC]

Prints a markdown table: per task the sentences encoded, encoding and classifier seconds, and the
ratio of the whole transfer evaluation to the STS one.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path


from common import machine_line

#: The real tasks' sizes (SentEval): rows per split (MRPC: pairs).
SIZES = {"MR": {"all": 10662}, "CR": {"all": 3775}, "SUBJ": {"all": 10000}, "MPQA": {"all": 10606},
         "SST2": {"train": 67349, "dev": 872, "test": 1821}, "TREC": {"train": 5452, "test": 500},
         "MRPC": {"train": 4076, "test": 1725}}


def label(sentence: str, n_classes: int) -> int:
    return zlib.crc32(sentence.split()[0].lower().encode()) % n_classes


def write_stand_ins(root: Path, corpus: list[str], scale: float, tasks: list[str]) -> None:
    """SentEval-format files of the real sizes × scale under root/senteval."""
    rng = random.Random(0)
    seen: dict[str, int] = {}

    def draw(n: int) -> list[str]:
        """n corpus sentences; a repeat gets a number appended, so every sentence is encoded."""
        out = []
        for _ in range(max(20, int(n * scale))):
            s = rng.choice(corpus)
            seen[s] = seen.get(s, 0) + 1
            out.append(s if seen[s] == 1 else f"{s} ({seen[s]})")
        return out

    binary = {"MR": ("rt-polarity.pos", "rt-polarity.neg"), "CR": ("custrev.pos", "custrev.neg"),
              "SUBJ": ("subj.objective", "subj.subjective"), "MPQA": ("mpqa.pos", "mpqa.neg")}
    for task in tasks:
        folder = root / "senteval" / ("SST/binary" if task == "SST2" else task)
        folder.mkdir(parents=True)
        if task in binary:
            rows = draw(SIZES[task]["all"])
            for name, cls in zip(binary[task], (1, 0)):
                (folder / name).write_text("".join(s + "\n" for s in rows if label(s, 2) == cls), encoding="latin-1", errors="replace")
        elif task == "SST2":
            for split, n in SIZES["SST2"].items():
                (folder / f"sentiment-{split}").write_text("".join(f"{s}\t{label(s, 2)}\n" for s in draw(n)), encoding="utf-8")
        elif task == "TREC":
            classes = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
            for split, name in (("train", "train_5500.label"), ("test", "TREC_10.label")):
                rows = draw(SIZES["TREC"][split])
                (folder / name).write_text("".join(f"{classes[label(s, 6)]}:x {s}\n" for s in rows), encoding="latin-1", errors="replace")
        else:
            for split in ("train", "test"):
                a, b = draw(SIZES["MRPC"][split]), draw(SIZES["MRPC"][split])
                rows = [f"{label(x + y, 2)}\t1\t2\t{x}\t{y}" for x, y in zip(a, b)]
                (folder / f"msr_paraphrase_{split}.txt").write_text("\n".join(["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", *rows]) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"))
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real task sizes")
    parser.add_argument("--mode", default="full", help="full (SimCSE's --mode test) | fast (--mode dev)")
    parser.add_argument("--tasks", default="MR,CR,SUBJ,MPQA,SST2,TREC,MRPC")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]

    from lit_srl.encoder import SentenceEncoder
    from lit_srl.evaluation import STSEvaluator
    from lit_srl.evaluation.encoding import encode_sentences
    from lit_srl.evaluation.transfer import load_transfer_tasks, score_task
    from lit_srl.data.corpus import iter_sentences

    encoder = SentenceEncoder("minilm", pooler="avg", head="none")
    sts = STSEvaluator.from_data_dir(args.data_dir, split="test")
    start = time.perf_counter()
    sts.evaluate(encoder, args.batch_size, "cpu")
    sts_seconds = time.perf_counter() - start

    corpus = list(iter_sentences([Path(args.data_dir) / "corpus" / "wiki1m_head.txt"]))  # 11,914 sentences
    rows, total = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        write_stand_ins(Path(tmp), corpus, args.scale, tasks)
        for task in load_transfer_tasks(tasks, tmp):
            sentences = task.sentences
            t0 = time.perf_counter()
            embeddings = encode_sentences(encoder, sentences, args.batch_size, "cpu")
            t1 = time.perf_counter()
            score_task(task, embeddings, sentences, args.mode)
            t2 = time.perf_counter()
            rows.append((task.name, len(sentences), t1 - t0, t2 - t1))
            total += t2 - t0
    print(f"## Transfer evaluation speed: all-MiniLM-L6-v2 (avg), {args.mode} mode, synthetic stand-ins × {args.scale}\n")
    print(f"- machine: {machine_line()} at the end (the classifiers train on one thread)")
    print(f"- command: `python {' '.join([sys.argv[0]] + (argv or sys.argv[1:]))}`")
    print("- data: **synthetic** stand-ins of the real tasks' sizes × scale (corpus sentences, hashed labels); "
          "STS: the real 7-task suite\n")
    print("| task | sentences encoded | encode (s) | classifiers (s) |")
    print("|---|---:|---:|---:|")
    for name, n, enc, clf in rows:
        print(f"| {name} | {n} | {enc:.1f} | {clf:.1f} |")
    print(f"| **transfer, all** | {sum(r[1] for r in rows)} | {sum(r[2] for r in rows):.1f} | {sum(r[3] for r in rows):.1f} |")
    print(f"| STS, 7 tasks | {len(sts)} | {sts_seconds:.1f} (encode + score) | – |")
    print(f"\ntransfer / STS wall time: **{total / sts_seconds:.1f}x**")
    return 0


if __name__ == "__main__":
    sys.exit(main())

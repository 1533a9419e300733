"""What a usable line of a training corpus is: read in binary with a bounded ``readline``, decoded as
UTF-8 (undecodable bytes become U+FFFD and are counted), stripped, blank ones skipped, over-long
ones cut to ``max_chars`` characters. The one definition shared by the stream
(:mod:`lit_srl.data.corpus`) and the line index (:mod:`lit_srl.data.line_index`), so that both
count the same sentences.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

MAX_CHARS = 20_000
"""Default cap on a sentence's length in characters; longer lines are truncated (and counted)."""


@dataclass
class CorpusStats:
    """Counts of a corpus's lines (one instance may span several files)."""

    files: int = 0
    sentences: int = 0
    empty: int = 0
    undecodable: int = 0
    truncated: int = 0

    def add(self, line: Line) -> bool:
        """Count ``line``; whether it is usable (not blank)."""
        if not line.text:
            self.empty += 1
            return False
        self.sentences += 1
        self.undecodable += line.undecodable
        self.truncated += line.truncated
        return True


def _read_line(f, limit: int) -> tuple[bytes, bool, int]:
    """Read one line of at most ``limit`` bytes; discard the rest of a longer line.

    Returns ``(chunk, overlong, consumed)``: ``chunk`` is ``b""`` only at end of file, ``consumed``
    the bytes the line took in the file (so the next line starts ``consumed`` bytes further on).
    """
    chunk = f.readline(limit)
    if len(chunk) < limit or chunk.endswith(b"\n"):
        return chunk, False, len(chunk)
    consumed, rest = len(chunk), chunk
    while rest and not rest.endswith(b"\n"):  # skip the remainder in bounded pieces
        rest = f.readline(limit)
        consumed += len(rest)
    return chunk, True, consumed


def _decode(chunk: bytes, complete: bool) -> tuple[str, bool]:
    """Decode UTF-8, replacing bad bytes; returns ``(text, had_bad_bytes)``.

    An incomplete chunk (a cut over-long line) may end inside a character: that tail is dropped
    rather than counted as undecodable.
    """
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(chunk, final=complete), False
    except UnicodeDecodeError:
        return codecs.getincrementaldecoder("utf-8")("replace").decode(chunk, final=complete), True


@dataclass
class Line:
    """One line of a corpus file as training sees it: ``text`` is ``""`` for a blank (unusable) line."""

    offset: int  # byte offset of the line's start in the (decompressed) file
    text: str
    undecodable: bool
    truncated: bool


def iter_lines(f, max_chars: int = MAX_CHARS) -> Iterator[Line]:
    """Every line of the binary file ``f`` from its current position, blank ones included.

    The single definition of a usable line (shared by the stream and the line index): decoded as
    UTF-8 (bad bytes → U+FFFD), stripped, cut to ``max_chars`` characters; reading at most
    ``4 * max_chars`` bytes of it (enough for ``max_chars`` characters).
    """
    offset = f.tell()
    while True:
        chunk, overlong, consumed = _read_line(f, 4 * max_chars)
        if not chunk:
            return
        text, bad = _decode(chunk, complete=not overlong)
        text = text.strip()
        cut = bool(text) and (overlong or len(text) > max_chars)
        yield Line(offset, text[:max_chars] if cut else text, bad and bool(text), cut)
        offset += consumed

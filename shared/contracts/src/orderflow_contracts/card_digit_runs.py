"""Where digits stand in a text: the two questions every card-number rule asks of a span.

Shared by :mod:`orderflow_contracts.card_data` (candidates printed as cards are) and
:mod:`orderflow_contracts.card_data_broken` (card numbers broken up otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

DIGIT_GROUP = re.compile(r"[0-9]+")
"""A group of digits, as both rules split a candidate."""


def stretches(raw: bytes, marks: bytes, between: bytes, least: int) -> Iterator[tuple[int, int]]:
    """Where ``raw`` (ASCII-compatible bytes) has a stretch of digits and separators (the
    ``between`` bytes ``marks`` marks) ``least`` or longer holding ``least`` digits or more,
    found in the marked copy: every run, and so every candidate, lies in one (the run pattern
    itself starts an attempt at every digit of a document). ``marked.find`` of the marks finds a
    stretch at its start: had it begun earlier, they would have been found there."""
    marked = raw.translate(marks)
    run_of_marks = b"0" * least
    start = marked.find(run_of_marks)
    while start != -1:
        end = marked.find(b"x", start)
        end = len(raw) if end == -1 else end
        if len(raw[start:end].translate(None, between)) >= least:  # enough digits
            yield start, end
        start = marked.find(run_of_marks, end)


def stands_alone(text: str | bytes, start: int, end: int) -> bool:
    """Whether neither neighbour of ``text[start:end]`` is a letter or a digit."""
    # Slices, not indexing: bytes index to ints. bytes.isalnum() is ASCII-only, which is right
    # for UTF-8 input (a multi-byte letter is not glued to the digits in any card format).
    before = text[max(start - 1, 0) : start]
    after = text[end : end + 1]
    return not (before.isalnum() or after.isalnum())

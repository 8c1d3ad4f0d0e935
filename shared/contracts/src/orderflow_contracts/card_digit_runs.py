"""Where digits stand in a text: the two questions every card-number rule asks of a span, and
what the rules do with the spans they find (merge them, replace them).

Shared by :mod:`orderflow_contracts.card_data` (candidates printed as cards are) and
:mod:`orderflow_contracts.card_data_broken` (card numbers broken up otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import AnyStr

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


def merged_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` in order, those that overlap made one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def replaced_spans(text: AnyStr, spans: list[tuple[int, int]], replacement: AnyStr) -> AnyStr:
    """``text`` with each of ``spans`` (in order, none overlapping) replaced: one join, linear."""
    parts = []
    last = 0
    for start, end in spans:
        parts += [text[last:start], replacement]
        last = end
    parts.append(text[last:])
    return replacement[:0].join(parts)

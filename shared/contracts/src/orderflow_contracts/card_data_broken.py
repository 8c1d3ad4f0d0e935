"""Card numbers *broken up* in free text otherwise than cards are printed (stop 44).

:mod:`orderflow_contracts.card_data` finds a card number written together or in the groups a
card shows; one split across JSON values is found by the chassis' list screening. This finds the
rest a person may type: groups of digits in a card's printed shape (fours, the last shorter, or
Amex's 4-6-5) on one line, each two joined by a gap alike of 1-8 spaces, tabs and punctuation
other than ``,`` and ``;`` (3 punctuation characters at most), holding 15-19 digits that stand
alone, are brand-shaped and pass Luhn (``4111|1111|1111|1111``). Numbers that only add up to a
card's length (``41111111 11111111``, two SKUs or three postcodes listed) are not taken for
one: they refused Orderflow's own messages. Free text only: identifiers follow their own rule.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import accumulate, pairwise
from typing import Final

from orderflow_contracts.card_brands import card_brand
from orderflow_contracts.card_digit_runs import DIGIT_GROUP, stands_alone, stretches

# Free text only: a card number *broken up* otherwise (stop 44). Whole groups of digits with a
# gap of 1-8 spaces, tabs and punctuation between each two, 3 punctuation characters at most:
# ``41111111 11111111``, ``411111 1111111111``, ``4111|1111|1111|1111``, ``4111    1111 ...``.
# Punctuation beyond the separators may break one up, not ``"`` (which ends a JSON string:
# the pieces of one across strings are card_data_lists'). No line break: a number broken up so
# is on one line.
# Nor ``,`` or ``;``: they list things (SKUs, postcodes, order numbers), far more often than
# they break up a card number, and a message of Orderflow's own listing two all-digit SKUs
# (``out of stock: 40955377, 40215396``) was refused one time in ten (review, stop 44).
_BREAK_PUNCTUATION: Final = "|+*#~'=!?%&()<>[]{}@$^`\\"
_GAP_CHARS: Final = " \t" + _BREAK_PUNCTUATION + "._/:-"
# One of these alone between two groups joins a decimal's, a date's, a time's, a UUID's, an IP
# address's or a thousands-separated amount's groups far more often than a card number's: it
# joins groups only in the printed shapes of the grouped candidate.
_BARE_SEPARATORS: Final = frozenset(".,_/:-")
# A stretch of groups with such gaps (a bare separator ends it). Possessive, and from a digit
# run's start only: each character is read once.
_ONE_CHAR_GAPS: Final = " \t" + _BREAK_PUNCTUATION
_JOINING_GAP = f"(?:[{re.escape(_GAP_CHARS)}]{{2,8}}+|[{re.escape(_ONE_CHAR_GAPS)}])"
_BROKEN = re.compile(f"(?<![0-9])[0-9]++(?:{_JOINING_GAP}[0-9]++)+")
_NO_SPACES: Final = str.maketrans("", "", " \t")
BROKEN_MIN_DIGITS: Final = 15  # see _broken_cards
# A card number is written in five groups at most (4-4-4-4-3 for 19 digits). Lists of small
# numbers (sizes ``36 37 38 ...``, quantities) made 15 digits or more in six groups or more, and
# one of five such lists of sizes was refused.
_BROKEN_MAX_GROUPS: Final = 5
_BRAND_FIRST_DIGITS: Final = frozenset("23456")  # every brand's IIN begins with one of them
# In bytes, every digit and gap character marked "0" and every other byte "x" (as card_data
# marks its runs): a stretch shows as 15 "0"s in a row.
_GAP_BYTES: Final = _GAP_CHARS.encode()
_GAP_MARKS: Final = bytes(
    0x30 if byte in b"0123456789" + _GAP_BYTES else 0x78 for byte in range(256)
)
_BROKEN_BYTES = re.compile(_BROKEN.pattern.encode())
_NOT_GAP_DIGITS: Final = str.maketrans("", "", _GAP_CHARS)
_BROKEN_OF_MARKS: Final = b"0" * BROKEN_MIN_DIGITS


def _gap_kind(gap: str) -> tuple[str, bool] | None:
    """What a gap between two groups reads as: its punctuation, and whether spaces or tabs are
    in it (how many does not matter: ``4111\t\t1111\t1111``); None when it joins no groups
    of a broken-up candidate (more than 3 punctuation characters)."""
    punctuation = gap.translate(_NO_SPACES)
    return (punctuation, len(punctuation) < len(gap)) if len(punctuation) <= 3 else None


def _alike_runs(text: str, groups: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """The runs of two or more ``groups`` (spans of digits, in order) whose gaps all read alike
    (:func:`_gap_kind`): one types the same between each two groups of a card number. A run
    ends where the gap changes: numbers listed with another gap between them than inside them
    (``+44 20 7946 0958, +44 20 7946 0959``, ``2026-12-03 15:20``) make no card number broken
    up. Two runs share the group where they meet."""
    run = groups[:1]
    joined_by: tuple[str, bool] | None = None
    for before, group in pairwise(groups):
        kind = _gap_kind(text[before[1] : group[0]])
        if kind is not None and (len(run) == 1 or kind == joined_by):
            run.append(group)
            joined_by = kind
            continue
        if len(run) > 1:
            yield run
        run, joined_by = ([before, group], kind) if kind is not None else ([group], None)
    if len(run) > 1:
        yield run


@functools.cache  # at most 10,000 beginnings times 5 lengths
def _brand_shaped(first_digits: str, length: int) -> bool:
    """Whether a brand issues numbers of ``length`` digits that begin so (an IIN has at most
    four digits)."""
    return card_brand(first_digits.ljust(length, "0")) is not None


class _LuhnSums:
    """Running Luhn sums over a string of digits, so that any stretch of it is checked with a
    few subtractions: a run of a million one-digit groups tries two million stretches."""

    def __init__(self, digits: str) -> None:
        values = [ord(digit) - 48 for digit in digits]
        doubled = [2 * value - 9 if value > 4 else 2 * value for value in values]
        # By the parity of each digit's place: [plain at even places, plain at odd places], and
        # the same for the doubled values.
        self.plain = [_parity_sums(values, 0), _parity_sums(values, 1)]
        self.doubled = [_parity_sums(doubled, 0), _parity_sums(doubled, 1)]

    def valid(self, start: int, end: int) -> bool:
        """Whether ``digits[start:end]`` passes Luhn: its last digit and every second one
        before it count plain, the others doubled."""
        plain = (end - 1) % 2
        total = self.plain[plain][end] - self.plain[plain][start]
        total += self.doubled[1 - plain][end] - self.doubled[1 - plain][start]
        return total % 10 == 0


def _parity_sums(values: list[int], parity: int) -> list[int]:
    """Running sums of the values at places of one parity (the others count 0)."""
    return list(accumulate((v if i % 2 == parity else 0 for i, v in enumerate(values)), initial=0))


def _printed_shape(sizes: list[int]) -> bool:
    """Whether groups of these sizes are written as a card is printed: fours, the last
    shorter (``4111 1111 1111 1111``, ``6011 0000 0000 0000 004``), or Amex's 4-6-5. Numbers
    that only add up to a card's length (three postcodes, two order numbers, two phone numbers
    in national format: 37563 37212 37233) were refused one time in ten (review, stop 44)."""
    *leading, last = sizes
    return (all(size == 4 for size in leading) and 1 <= last <= 4) or sizes == [4, 6, 5]


def _broken_cards(
    text: str, original: str | bytes, run: list[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """The card numbers broken up in a run of alike groups, left to right, the longest first
    from each group: up to five whole groups holding 15-19 digits that are brand-shaped, pass
    Luhn and stand alone in ``original`` (``text`` itself, or the bytes it was decoded from).
    15, not 13: a phone number has 15 digits at most (E.164), most 11-13, and a German mobile
    number (``+49 151 2345 6789``) read as a Visa's 13 passed Luhn one time in ten. Alone: the
    digits of a hex id's tail glued to its letters (a UUID's last group) are no group. Linear:
    from each group at most five lengths are tried."""
    ends = list(accumulate(end - start for start, end in run))
    digits = "".join(text[start:end] for start, end in run)
    luhn = _LuhnSums(digits)
    first = 0
    while first < len(run):
        begin = ends[first] - (run[first][1] - run[first][0])
        last = None
        if digits[begin] in _BRAND_FIRST_DIGITS:
            lowest = bisect_left(ends, begin + BROKEN_MIN_DIGITS, lo=first + 1)
            highest = min(bisect_right(ends, begin + 19, lo=lowest), first + _BROKEN_MAX_GROUPS)
            last = next(
                (
                    last
                    for last in reversed(range(lowest, highest))
                    if _printed_shape([end - start for start, end in run[first : last + 1]])
                    and _brand_shaped(digits[begin : begin + 4], ends[last] - begin)
                    and luhn.valid(begin, ends[last])
                    and stands_alone(original, run[first][0], run[last][1])
                ),
                None,
            )
        if last is None:
            first += 1
        else:
            yield run[first][0], run[last][1]
            first = last + 1


def _broken_stretches(text: str, start: int = 0, end: int | None = None) -> Iterator[re.Match[str]]:
    """The stretches of ``text[start:end]`` a card number may be broken up in (see _BROKEN):
    holding 15 digits or more. Most texts have none, and then no more is done."""
    return (
        found
        for found in _BROKEN.finditer(text, start, len(text) if end is None else end)
        if len(found.group().translate(_NOT_GAP_DIGITS)) >= BROKEN_MIN_DIGITS
    )


def broken_stretches_in_bytes(raw: bytes) -> Iterator[re.Match[bytes]]:
    """:func:`_broken_stretches` for ASCII-compatible bytes, searched for only inside the
    stretches of digits and gap characters a marked copy shows (see :func:`_stretches`). Most
    bytes (every header) show none: one translation and one search decide."""
    if len(raw) < BROKEN_MIN_DIGITS or _BROKEN_OF_MARKS not in raw.translate(_GAP_MARKS):
        return iter(())
    return (
        found
        for start, end in stretches(raw, _GAP_MARKS, _GAP_BYTES, BROKEN_MIN_DIGITS)
        for found in _BROKEN_BYTES.finditer(raw, start, end)
        if len(found.group().translate(None, _GAP_BYTES)) >= BROKEN_MIN_DIGITS
    )


def _bare_joined(outside: str) -> bool:
    """Whether ``outside`` (the two characters beyond a stretch's end, nearest first) is a bare
    separator and a digit."""
    return len(outside) == 2 and outside[0] in _BARE_SEPARATORS and "0" <= outside[1] <= "9"


def _broken_spans(
    text: str, original: str | bytes, start: int, end: int
) -> Iterator[tuple[int, int]]:
    """The card numbers broken up in ``text[start:end]``, in order."""
    for found in _broken_stretches(text, start, end):
        groups = [group.span() for group in DIGIT_GROUP.finditer(text, *found.span())]
        # A bare separator joins no stretch (see _BROKEN), and one just outside it, then a digit,
        # makes the group at that end part of another number: a decimal, a date, a UUID's group
        # (``0.345678901234567 | 3.5`` is two decimals, not a number of 16 digits).
        if _bare_joined(text[max(found.start() - 2, 0) : found.start()][::-1]):
            groups = groups[1:]
        if _bare_joined(text[found.end() : found.end() + 2]):
            groups = groups[:-1]
        for run in _alike_runs(text, groups):
            yield from _broken_cards(text, original, run)


def with_broken(
    text: str, original: str | bytes, spans: list[tuple[int, int]], start: int, end: int
) -> list[tuple[int, int]]:
    """``spans`` (the grouped and contiguous card numbers in ``text[start:end]``) with the card
    numbers broken up between them, in order, none overlapping."""
    found: list[tuple[int, int]] = []
    position = start
    for span_start, span_end in [*spans, (end, end)]:
        found += _broken_spans(text, original, position, span_start)
        position = span_end
    return sorted(spans + found) if found else spans


def holds_broken_in_bytes(raw: bytes) -> bool:
    """Whether ASCII-compatible ``raw`` holds a card number broken up (see _BROKEN)."""
    if next(broken_stretches_in_bytes(raw), None) is None:
        return False
    return next(_broken_spans(raw.decode("latin-1"), raw, 0, len(raw)), None) is not None

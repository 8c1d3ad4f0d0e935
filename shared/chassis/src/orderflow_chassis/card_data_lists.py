"""Card numbers listed in a JSON array: group by group (``["4111", "1111", "1111", "1111"]``)
or cut into pieces, an element each (``[4, 1, 1, 1, ...]``, ``[[4111], [1111], ...]``). A first
pass over a record's bytes, the readings the walk of :mod:`orderflow_chassis.card_data_json`
adds to its free text, the elements a refusal's copy and a log line redact, and the same
readings of bytes that are not JSON. Decision 19 of docs/decisions.md has the rule."""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from itertools import accumulate
from typing import Any, Final, cast

from orderflow_contracts.card_brands import card_brand
from orderflow_contracts.card_data import (
    contains_card_number,
    contains_card_number_in_bytes,
    digits_as_read,
)

# What texts scanned in one pass are joined by: no letter or digit (each text keeps its own
# edges) and no separator (``\n`` is one: four strings "4111", "1111"... are no card number).
APART: Final = "\x00"

# A card number may be listed as its printed groups, an array element each:
# ["4111", "1111", "1111", "1111"], [4111,    1111,    1111,    1111] or the two mixed; or cut
# anywhere, down to a digit an element: [4, 1, 1, 1, ...], ["41111111", "11111111"],
# [[4111], [1111], ...], [4111.0, 1111.0, ...]. No run of the bytes shows them (quotes,
# brackets or more spaces than a printed card has stand between the groups), so a first pass
# looks for digits on both sides of a comma once quotes, whitespace and brackets are deleted,
# in a mapped copy: digits become "0", commas "c", all else "x". Events hold none (the
# contract's arrays hold objects); a free text's "1, 2" sends its document to the walk, which
# decides.
_LISTED_MARKS: Final = bytes(
    0x30 if byte in b"0123456789" else 0x63 if byte == 0x2C else 0x78 for byte in range(256)
)
# Quotes (JSON's, and Python's repr), whitespace, and the brackets of arrays nested in the list:
# what stands around the pieces of a document that is not JSON.
_AROUND_PIECES: Final = b"\"' \t\n\r[]"
# The first pass deletes the separators a piece may hold at its edges too (``"4111-",
# "1111-"``, see ``digits_as_read``).
_BETWEEN_LISTED: Final = _AROUND_PIECES + b"._/:-\x0b\x0c\x1c\x1d\x1e"
_LISTED: Final = re.compile(rb"0c+0")
_LISTED_GROUP_MAX: Final = 19  # a longer element is no group of a card: it is scanned alone


def has_listed_digits(raw: bytes) -> bool:
    """Whether ``raw`` may list digit groups as array elements (a first pass for the walk);
    ``null`` and empty strings or arrays between them too."""
    if b"null" in raw:
        raw = raw.replace(b"null", b"")
    return _LISTED.search(raw.translate(_LISTED_MARKS, _BETWEEN_LISTED)) is not None


def holds_listed_card_number(raw: bytes) -> bool:
    """Whether ``raw`` read without its quotes, whitespace and brackets holds a card number
    listed group by group (``"4111", "1111", ...``) or cut into pieces (``4, 1, 1, 1, ...``):
    what a byte-level scan of a document that is not JSON (cut short, a trailing comma,
    Python's quotes) cannot see as it is written. The first pass reads ASCII only: bytes that
    are not ASCII are always read."""
    if raw.isascii() and not has_listed_digits(raw):
        return False
    squeezed = raw.translate(None, _AROUND_PIECES)
    return contains_card_number_in_bytes(squeezed) or bool(
        spelled_numbers(_text_pieces(squeezed.decode("utf-8", "replace")))
    )


def _text_pieces(text: str) -> list[object]:
    """The pieces a comma list in ``text`` may spell a card number with, as an array's
    elements would be read (see :func:`_piece`): each text between two commas (a number with
    nothing after its point read as its integer; ``null`` and ``None`` as nothing). A text
    with a key or an object's brace in it (``{"groups": 4111``, ``1111}``) gives the text
    before the first and after the last of them, with :data:`_BREAK` between."""
    pieces: list[object] = []
    for between in text.split(","):
        structure = [found.start() for found in _STRUCTURE.finditer(between)]
        if not structure:
            pieces.append(_text_piece(between))
            continue
        head, tail = between[: structure[0]], between[structure[-1] + 1 :]
        pieces += [_text_piece(head), _BREAK, _text_piece(tail)]
    return pieces


def _text_piece(written: str) -> object:
    if not written or written in _NOTHING:
        return None  # nothing: passed over
    if _NUMBER_WITH_POINT.fullmatch(written):  # 4111.0, 1.111e3: a number, or a string's digits
        return _number_digits(written) or digits_as_read(written) or _BREAK
    return written


_STRUCTURE: Final = re.compile(r"[{}:=]")  # brackets and quotes are deleted before
_NUMBER_WITH_POINT: Final = re.compile(r"-?\d+(?:\.\d*)?[eE][+-]?\d+|-?\d+\.\d*")
_NOTHING: Final = frozenset({"null", "None"})
_BREAK: Final = object()  # no piece: ends a run


def comma_list(items: Sequence[Any]) -> str:
    """An array's short strings and integers as a comma list (anything else breaks it), read
    as free text: groups listed with commas must be brand-shaped to be a card number, so a
    list of years is not one."""
    return ",".join(item if _is_listed_group(item) else APART for item in map(_as_group, items))


def _as_group(item: Any) -> Any:
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 10**_LISTED_GROUP_MAX:
        return str(item)
    return item


def _is_listed_group(item: Any) -> bool:
    return isinstance(item, str) and len(item) <= _LISTED_GROUP_MAX


def spelled_numbers(items: Sequence[Any], sequences: Sequences = (list,)) -> set[int]:
    """The elements of ``items`` that spell a card number cut into pieces: the digits of two or
    more pieces in a row, joined, are a brand-shaped, Luhn-valid number. Brand-shaped, as a
    comma list must be: joined, four years in a row pass the Luhn check one time in five.
    The pieces are ``items`` and the elements of the ``sequences`` in them, at any depth, in
    order (see :func:`_piece`): a nested array's pieces join those around it."""
    found: set[int] = set()
    run: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        pieces = _nested_pieces(item, sequences) if isinstance(item, sequences) else (item,)
        for element in pieces:
            piece = _piece(element)
            if piece is None:
                if len(run) > 1:
                    found.update(_spelled_in_run(run))
                run = []
            elif piece:
                run.append((index, piece))
    if len(run) > 1:
        found.update(_spelled_in_run(run))
    return found


Sequences = tuple[type, ...]
_PIECES_DEPTH: Final = 64  # deeper arrays end a run (the guard refuses documents as deep)


def _nested_pieces(items: Any, sequences: Sequences) -> Iterator[Any]:
    """The elements of a sequence, those of the sequences in it in their place, in order.
    Iterative: a generator a level would resume once per level for each element."""
    levels = [iter(cast(Iterable[Any], items))]
    while levels:
        for item in levels[-1]:
            if not isinstance(item, sequences):
                yield item
            elif len(levels) < _PIECES_DEPTH:
                levels.append(iter(cast(Iterable[Any], item)))
                break
            else:
                yield _BREAK
        else:
            levels.pop()


def _piece(item: Any) -> str | None:
    """The piece of a card number ``item`` may be: the digits of a non-negative integer, of a
    number with nothing after its point (``4111.0``, read as written when it was parsed so),
    of a string that holds only digits and separators (as a person reads it); ``""`` for
    what holds nothing (``null``, ``""``), which a run passes over; None for anything else,
    which ends a run."""
    digits: str | None = None
    if type(item) is int:  # not isinstance: a bool is an int too, and is no piece
        digits = str(item) if 0 <= item < _PIECE_LIMIT else None
    elif item is None:
        return ""
    elif isinstance(item, str):
        digits = digits_as_read(item)
    elif isinstance(item, float):
        digits = _float_digits(item)
    return digits if digits is None or len(digits) <= _LISTED_GROUP_MAX else None


_PIECE_LIMIT: Final = 10**_LISTED_GROUP_MAX


def _float_digits(number: float) -> str | None:
    """The digits of a number with nothing after its point (see :func:`_number_digits`), from
    the token it was written as when the document was read (see :class:`WrittenFloat`)."""
    return _number_digits(number.token if isinstance(number, WrittenFloat) else repr(number))


def _number_digits(token: str) -> str | None:
    """The digits of a non-negative number token with nothing after its point: exactly as
    written when it is a whole number as written (a float holds 15-17 significant digits:
    ``111111111111111110.0``), else as any JSON reader reads it (``1111.00000000000000001`` is
    ``1111.0`` to them, and to a refusal's copy)."""
    try:
        written = Decimal(token)
    except InvalidOperation:
        return None
    if not written.is_finite():
        return None
    if written.is_zero():
        return "0"  # 0e19 and -0.0 too
    if written.is_signed() or written.adjusted() >= _LISTED_GROUP_MAX:
        return None
    if written == written.to_integral_value():
        return str(int(written))
    value = float(written)
    return str(int(value)) if value.is_integer() else None


class WrittenFloat(float):
    """A JSON number read as a float that keeps the token it was written as: digits beyond a
    float's precision (``111111111111111110.0``) are read from the token."""

    __slots__ = ("token",)
    token: str


def _spelled_in_run(run: list[tuple[int, str]]) -> Iterator[int]:
    """:func:`spelled_numbers` in one run of pieces (with the element each is of), in linear
    time: the run's digits joined once, with running Luhn sums by position parity, plain and
    doubled, so that each candidate (it starts a piece with a brand's first digit, ends
    another, holds 13-19 digits) is checked with a few subtractions and a cached look at its
    brand."""
    joined = "".join(digits for _, digits in run)
    values = joined.encode("ascii").translate(_DIGIT_VALUES)
    plain = (_parity_sums(values, 0), _parity_sums(values, 1))
    doubled_values = values.translate(_DOUBLED_VALUES)
    doubled = (_parity_sums(doubled_values, 0), _parity_sums(doubled_values, 1))
    ends = list(accumulate(len(digits) for _, digits in run))
    for first, (_, digits) in enumerate(run):
        start = ends[first] - len(digits)
        if digits[0] not in _BRAND_FIRST_DIGITS:
            continue
        lowest = bisect_left(ends, start + 13, lo=first + 1)
        highest = bisect_right(ends, start + _LISTED_GROUP_MAX, lo=lowest)
        for last in range(lowest, highest):
            end = ends[last]
            odd = (end - 1) % 2  # the last digit's parity: the digits of that parity are plain
            total = plain[odd][end] - plain[odd][start]
            total += doubled[1 - odd][end] - doubled[1 - odd][start]
            if total % 10 == 0 and _brand_shaped(joined[start : start + 4], end - start):
                yield from (index for index, _ in run[first : last + 1])


def _parity_sums(values: bytes, parity: int) -> list[int]:
    """Running sums of the values at positions of one parity (the others count 0)."""
    masked = bytearray(len(values))
    masked[parity::2] = values[parity::2]
    return list(accumulate(masked, initial=0))


@functools.cache  # at most 10,000 beginnings times 7 lengths
def _brand_shaped(first_digits: str, length: int) -> bool:
    """Whether a brand issues numbers of ``length`` digits that begin so (every IIN is at most
    four digits long)."""
    return card_brand(first_digits.ljust(length, "0")) is not None


_BRAND_FIRST_DIGITS: Final = frozenset("23456")  # every brand's IIN begins with one of them
_DIGIT_VALUES: Final = bytes((byte - 48) % 256 for byte in range(256))  # b"0" -> 0 ...
_DOUBLED_VALUES: Final = bytes(
    (2 * byte - 9 if byte > 4 else 2 * byte) % 256 for byte in range(256)
)  # Luhn's doubling, as a digit's contribution


def lists_card_number(items: Sequence[Any], sequences: Sequences = (list,)) -> bool:
    """Whether an array's elements list a card number (see :func:`listed_groups`)."""
    return bool(listed_groups(items, sequences))


def listed_groups(
    items: Sequence[Any], sequences: Sequences = (list,), *, nested: bool = False
) -> frozenset[int]:
    """Where the groups of a card number listed in ``items`` stand, whatever each holds alone;
    none when the array lists no card number. In a comma list (see :func:`comma_list`), every
    element read as a group that holds a digit (of any script); cut into pieces (see
    :func:`spelled_numbers`), the elements that spell it, unless ``nested`` (an element of a
    sequence whose pieces, its own among them, were read already). What a refusal's copy and a
    log line redact."""
    found = set() if nested else spelled_numbers(items, sequences)
    if len(items) > 1 and contains_card_number(comma_list(items)):
        found.update(
            index
            for index, group in enumerate(map(_as_group, items))
            if _is_listed_group(group) and any(ch.isdigit() for ch in group)
        )
    return frozenset(found)

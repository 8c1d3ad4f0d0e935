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
    SEPARATOR_CHARS,
    contains_card_number,
    contains_card_number_in_bytes,
    digits_as_read,
    redact_card_numbers_in_bytes,
)

# What texts scanned in one pass are joined by: no letter or digit (each text keeps its own
# edges) and no separator (``\n`` is one: four strings "4111", "1111"... are no card number).
APART: Final = "\x00"

# A card number may be listed as its printed groups, an array element each:
# ["4111", "1111", "1111", "1111"], [4111,    1111,    1111,    1111] or the two mixed; cut
# anywhere, down to a digit an element: [4, 1, 1, 1, ...], ["41111111", "11111111"],
# [[4111], [1111], ...], [4111.0, 1111.0, ...]; or typed into boxes, a value each:
# {"n1": "4111", "n2": "1111", ...}. No run of the bytes shows them: quotes, brackets, keys or
# more spaces than a printed card has stand between the groups. So a first pass deletes the
# keys and ``null`` (inside strings too: that only joins more digits), then looks for 13
# digits with nothing but what may stand between and around pieces (quotes, brackets, braces,
# whitespace, separators, commas among them) between them, in a mapped copy: a digit "0",
# anything else "x". What passes is read token by token, a whole string at a time, for values
# that may be pieces (numbers, strings of digits and separators) with nothing but commas,
# brackets and braces between them, 13 digits in all or a number in exponent form. Each step
# is linear: the quantifiers are possessive and a number starts only where one may.
_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
# A key: a string with ":" after it (escapes are spaces by then). A search for it may start at
# a string's closing quote too, and then it takes what stands up to the next string for a key;
# in JSON it takes a ":" after that for the key's only when that string begins with ":"
# (``"a", 4111, ":b"``). A document with such a string is always read.
_KEY: Final = re.compile(rb'"[^"]*+"[ \t\n\r]*+:')
_STRING_BEGINNING_WITH_A_COLON: Final = re.compile(rb'[,\[{:][ \t\n\r]*+"[ \t\n\r]*+:')
_SEPARATORS: Final = SEPARATOR_CHARS.encode()  # "-" last: a literal in a class
_BETWEEN_DIGITS: Final = _SEPARATORS + b"\"'+[]{}"
_DIGIT_MARKS: Final = bytes(0x30 if byte in b"0123456789" else 0x78 for byte in range(256))
_MAY_BE_PIECE: Final = (
    rb'(?:"[0-9' + re.escape(_SEPARATORS) + rb']*+"|(?<![0-9.eE+-])-?[0-9][0-9.eE+-]*+)'
)
_BETWEEN_PIECES: Final = rb"[ \t\n\r\[\]{}]*+,[ \t\n\r\[\]{},]*+"
_PIECES_OR_A_STRING: Final = re.compile(
    rb"(?P<pieces>" + _MAY_BE_PIECE + rb"(?:" + _BETWEEN_PIECES + _MAY_BE_PIECE + rb')++)|"[^"]*+"'
)
_NOT_DIGITS: Final = bytes(byte for byte in range(256) if byte not in b"0123456789")
# Bytes that are not JSON: a digit "0", a comma "c", all else "x".
_COMMA_MARKS: Final = bytes(
    0x30 if byte in b"0123456789" else 0x63 if byte == 0x2C else 0x78 for byte in range(256)
)
_AROUND_COMMAS: Final = _BETWEEN_DIGITS.replace(b",", b"")
_DIGITS_AROUND_A_COMMA: Final = re.compile(rb"0x*+c[xc]*+0")
_EXPONENT_HINT: Final = re.compile(rb"[0-9.][eE][+-]?[0-9]")
# Quotes (JSON's, and Python's repr), whitespace, and the brackets and braces of the arrays and
# objects around the pieces: what stands around the pieces of a document that is not JSON.
_AROUND_PIECES: Final = b"\"' \t\n\r[]{}"
_LISTED_GROUP_MAX: Final = 19  # a longer element is no group of a card: it is scanned alone


def has_listed_digits(raw: bytes) -> bool:
    """Whether JSON ``raw`` may hold a card number cut up across array elements or object
    values (a first pass for the walk). An escape reads as a space, which a piece may hold
    (``\\t`` writes a separator); ``\\u0034`` writes a digit, which this pass does not read:
    the guard reads every document with a backslash (see ``may_hold_card_number``). Exact for
    JSON only: bytes that do not look whole (an odd number of quotes, no object or array from
    end to end) or hold a key in Python's quotes are sent to be read. What looks whole and is
    not JSON all the same is kept only if :func:`holds_listed_card_number` says it may be."""
    whole = raw.strip(b" \t\n\r")
    if b"':" in raw or raw.count(b'"') % 2 or whole[:1] + whole[-1:] not in (b"{}", b"[]"):
        return True
    if b"\\" in raw:
        raw = _ESCAPE.sub(b" ", raw)
    if b":" in raw:
        if _STRING_BEGINNING_WITH_A_COLON.search(raw):
            return True
        raw = _KEY.sub(b"", raw)
    if b"null" in raw:
        raw = raw.replace(b"null", b"")
    if b"0000000000000" not in raw.translate(_DIGIT_MARKS, _BETWEEN_DIGITS):
        return False
    for found in _PIECES_OR_A_STRING.finditer(raw):
        pieces = found.group("pieces")
        if pieces is not None and (
            len(pieces.translate(None, _NOT_DIGITS)) >= 13 or b"e" in pieces.lower()
        ):
            return True
    return False


def holds_listed_card_number(raw: bytes) -> bool:
    """Whether ``raw`` holds a card number that a byte-level scan does not see as it is
    written, once the scan's redaction is done and quotes, whitespace, brackets and braces
    are deleted: listed group by group (``"4111", "1111", ...``) or cut into pieces (``4, 1, 1,
    1, ...``, ``{'n1': '4111', 'n2': '1111', ...``). For bytes that are not JSON (cut short, a
    trailing comma, Python's quotes): whether a dead letter may keep their redacted bytes.
    Read unless they are ASCII, with no Python quote and no number in exponent form, and hold
    no digit on both sides of a comma (read so, with letters between: keys)."""
    if (
        raw.isascii()
        and b"'" not in raw
        and not _EXPONENT_HINT.search(raw)
        and not _DIGITS_AROUND_A_COMMA.search(raw.translate(_COMMA_MARKS, _AROUND_COMMAS))
    ):
        return False
    squeezed = redact_card_numbers_in_bytes(raw).translate(None, _AROUND_PIECES)
    return contains_card_number_in_bytes(squeezed) or bool(
        spelled_numbers(_text_pieces(squeezed.decode("utf-8", "replace")))
    )


def _text_pieces(text: str) -> list[object]:
    """The pieces a comma list in ``text`` may spell a card number with, as a document's values
    would be read (see :func:`_piece`): each text between two commas (a number with nothing
    after its point read as its integer; ``null`` and ``None`` as nothing), without the keys
    in it (what stands before a ``:`` or ``=``)."""
    return [_text_piece(_KEY_MARK.split(between)[-1]) for between in text.split(",")]


def _text_piece(written: str) -> object:
    if not written or written in _NOTHING:
        return None  # nothing: passed over
    if _NUMBER_WITH_POINT.fullmatch(written):  # 4111.0, 1.111e3: a number, or a string's digits
        return _number_digits(written) or digits_as_read(written) or BREAK
    return written


_KEY_MARK: Final = re.compile(r"[:=]")  # brackets, braces and quotes are deleted before
_NUMBER_WITH_POINT: Final = re.compile(r"-?\d+(?:\.\d*)?[eE][+-]?\d+|-?\d+\.\d*")
_NOTHING: Final = frozenset({"null", "None"})
BREAK: Final = object()  # no piece: ends a run


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
PIECES_DEPTH: Final = 64  # deeper arrays and objects end a run (the guard refuses as deep)


def _nested_pieces(items: Any, sequences: Sequences) -> Iterator[Any]:
    """The elements of a sequence, those of the sequences in it in their place, in order.
    Iterative: a generator a level would resume once per level for each element."""
    levels = [iter(cast(Iterable[Any], items))]
    while levels:
        for item in levels[-1]:
            if not isinstance(item, sequences):
                yield item
            elif len(levels) < PIECES_DEPTH:
                levels.append(iter(cast(Iterable[Any], item)))
                break
            else:
                yield BREAK
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
    brand. Each element is yielded once: a candidate that ends where an earlier one covered
    already is not checked, and of those left the longest found is enough."""
    joined = "".join(digits for _, digits in run)
    values = joined.encode("ascii").translate(_DIGIT_VALUES)
    plain = (_parity_sums(values, 0), _parity_sums(values, 1))
    doubled_values = values.translate(_DOUBLED_VALUES)
    doubled = (_parity_sums(doubled_values, 0), _parity_sums(doubled_values, 1))
    ends = list(accumulate(len(digits) for _, digits in run))
    covered = -1  # the last place in the run whose element was yielded
    for first, (_, digits) in enumerate(run):
        start = ends[first] - len(digits)
        if digits[0] not in _BRAND_FIRST_DIGITS:
            continue
        lowest = bisect_left(ends, start + 13, lo=max(first, covered) + 1)
        highest = bisect_right(ends, start + _LISTED_GROUP_MAX, lo=lowest)
        for last in reversed(range(lowest, highest)):
            end = ends[last]
            odd = (end - 1) % 2  # the last digit's parity: the digits of that parity are plain
            total = plain[odd][end] - plain[odd][start]
            total += doubled[1 - odd][end] - doubled[1 - odd][start]
            if total % 10 == 0 and _brand_shaped(joined[start : start + 4], end - start):
                yield from (index for index, _ in run[max(first, covered + 1) : last + 1])
                covered = last
                break


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
    none when the array lists no card number: :func:`comma_listed_groups`, and the elements
    that spell one cut into pieces (see :func:`spelled_numbers`) unless ``nested`` (an element
    of a sequence whose pieces, its own among them, were read already). What a log line
    redacts."""
    found = set() if nested else spelled_numbers(items, sequences)
    return frozenset(found) | comma_listed_groups(items)


def comma_listed_groups(items: Sequence[Any]) -> frozenset[int]:
    """Where the groups of a card number in an array read as a comma list (see
    :func:`comma_list`) stand: every element read as a group that holds a digit (of any
    script), when the list holds a card number."""
    if len(items) < 2 or not contains_card_number(comma_list(items)):
        return frozenset()
    return frozenset(
        index
        for index, group in enumerate(map(_as_group, items))
        if _is_listed_group(group) and any(ch.isdigit() for ch in group)
    )

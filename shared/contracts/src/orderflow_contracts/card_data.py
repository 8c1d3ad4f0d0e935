"""Detection and redaction of card numbers (PANs): card data never enters the system.

Text is read as a person reads digits (:mod:`orderflow_contracts.digits_read`: another script's
digits as digits, any space, line break and dash alike, a compatibility form of one ASCII
character as that character, invisible characters not at all). Two rules, one for free text and
a stricter one for identifiers. Both look at *candidates*: a run of 13-19 digits not touching
another digit (``4111111111111111``), or groups written the way cards are printed, one to three
separators between them (spaces, tabs, line breaks, hyphens, dots, commas, slashes, colons,
underscores; mixed or not: ``4111 1111 1111 1111``, ``5500-0000-0000-0004``, ``4111 - 1111 -
1111 - 1111``, Amex ``3782 822463 10005``). A grouped candidate must not sit inside a word, but
may touch a hyphen (``ref-4111 1111 1111 1111``): no UUID holds one, as a UUID's groups of 8 and
12 characters can be no group of a candidate (4 or 6 digits and a separator, or 1-7 digits at
its end) and its three groups of 4 are too few. When it is no card number, the runs of its
groups are tried, the longest first, so a PAN followed by its CVV or expiry (``4111 1111 1111
1111 737``) is found. Every candidate must pass the Luhn check. A candidate *stands alone* when
neither of its neighbours is a letter or a digit (``_ - : . " /`` and spaces are separators),
and is *brand-shaped* when its digits start with the IIN of a real card brand and have a length
that brand issues (:data:`~orderflow_contracts.card_brands.CARD_BRANDS`).

* **Free text** (addresses, reasons, notes, unknown fields, header names and values, log
  lines): a Luhn-valid candidate that stands alone, or that is brand-shaped even when glued to
  letters. So ``tok_4111111111111111`` and ``tok4111111111111111`` are card numbers (a prefix
  does not make a PAN safe), while a random digit run inside a word must also look like a real
  brand's number. Groups with a comma between them are a list as often as a card
  (``2017, 2018, 2019, 2020`` passes Luhn): they must be brand-shaped (``4111,1111,1111,1111``).
  So must 13 digits, a millisecond timestamp's length (the cards that short are Visa's and
  Maestro's, brand-shaped); and 13 digits written together that are an EAN-13 code are a
  product code, under either rule (:mod:`orderflow_contracts.product_codes`).
  Free text also has card numbers *broken up* otherwise (stop 44), as one split across JSON
  values is: groups of digits in a card's printed shape (fours, the last shorter, or Amex's
  4-6-5) on one line, each two joined by a gap alike of 1-8 spaces, tabs and punctuation other
  than ``,`` and ``;`` (3 punctuation characters at most: ``4111|1111|1111|1111``,
  ``4111    1111    1111    1111``), holding 15-19 digits that stand alone, are brand-shaped
  and pass Luhn (:mod:`orderflow_contracts.card_data_broken`). One ``. , - : / _`` alone
  between two digits joins none (a decimal point, a date's, a time's, a UUID's or an IP
  address's): those join groups only in the printed shapes above.
* **Identifiers** (:data:`ID_FIELDS`, Kafka keys, URL path segments): a Luhn-valid candidate
  that stands alone *and* is brand-shaped, or 16-19 digits written together that are
  brand-shaped, even glued to letters (stop 44). A customer id ``4111111111111111``,
  ``cust_5500000000000004`` or ``c5500000000000004`` is refused; shorter digit runs glued to
  letters in a generated id (``cart-6940787722504b46``) are not (one run in ten passes Luhn;
  a UUID never holds one longer than 12), nor a numeric id whose prefix no brand issues.

False positives in free text remain possible (a standalone 16-digit number passes Luhn one time
in ten; 16 random digits written ``8 8`` one time in 36, a list of 5-15 quantities one time in
5,000); for card data that is the safe side to err on. Pure functions, no I/O; every scan is a
linear regular-expression pass, so cost grows with the input's length only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import AnyStr, Final

from orderflow_contracts.card_brands import card_brand, luhn_valid
from orderflow_contracts.card_data_broken import (
    BROKEN_MIN_DIGITS,
    broken_stretches_in_bytes,
    holds_broken_in_bytes,
    with_broken,
)
from orderflow_contracts.card_digit_runs import (
    DIGIT_GROUP,
    merged_spans,
    replaced_spans,
    stands_alone,
    stretches,
)
from orderflow_contracts.digits_read import as_read, dot_readings
from orderflow_contracts.product_codes import is_ean13

REDACTED: Final = "[REDACTED-PAN]"

ID_FIELDS: Final = frozenset(
    {
        "event_id",
        "correlation_id",
        "causation_id",
        "aggregate_id",
        "cart_id",
        "customer_id",
        "order_id",
        "payment_id",
        "refund_id",
        "rma_id",
        "shipment_id",
        "claim_id",
        "warranty_claim_id",
        "return_request_id",
        "warehouse_id",
        # Minted by carriers and manufacturers: many are long digit runs (DPD's 14 digits,
        # FedEx's 15, Canada Post's 16), one in ten of which passes Luhn.
        "carrier",
        "tracking_number",
        "serial_number",
    }
)
"""Field names whose values are identifiers minted by some system: screened with the
identifier rule (see the module docstring), wherever in a document they appear."""


_CONTIGUOUS = r"(?<![0-9])[0-9]{13,19}(?![0-9])"
# What may stand between the groups of a printed card number, one to three of them, mixed or
# not (``4111 - 1111``, ``4111\r\n1111``); every pattern and mark table below is built from it.
# The ASCII controls among them are those Python reads as line breaks (vertical tab, form feed,
# file, group and record separators): invisible or a new line wherever the text is shown.
SEPARATOR_CHARS: Final = " \t\n\r\x0b\x0c\x1c\x1d\x1e.,_/:-"  # "-" last: a literal in a class
"""The ASCII characters a card number may be written with between its digits."""
_SEPARATOR = f"[{SEPARATOR_CHARS}]{{1,3}}"
# Groups as cards are printed, not inside a word (no letter or digit before or after); an
# underscore (``tok_4111_1111_1111_1111``) or a hyphen (``ref-4111-...``) may touch them.
_GROUPED = (
    rf"(?<![^\W_])(?:[0-9]{{4}}(?:{_SEPARATOR}[0-9]{{4}}){{2}}(?:{_SEPARATOR}[0-9]{{4}})?"
    rf"{_SEPARATOR}[0-9]{{1,7}}|[0-9]{{4}}{_SEPARATOR}[0-9]{{6}}{_SEPARATOR}[0-9]{{4,5}})"
    r"(?![^\W_])"
)
_CANDIDATE = re.compile(f"{_GROUPED}|{_CONTIGUOUS}")
_CANDIDATE_BYTES = re.compile(f"{_GROUPED}|{_CONTIGUOUS}".encode(), re.ASCII)
_DIGIT_GROUP_BYTES = re.compile(rb"[0-9]+")
_NOT_DIGITS: Final = str.maketrans("", "", SEPARATOR_CHARS)

# Every grouped or contiguous candidate lies in a run of digits and separators from a digit to
# a digit that holds 13 digits or more. Searching for such runs (a character class, no
# look-arounds, no alternation) and counting their digits is about ten times cheaper than
# searching for a candidate, and most texts (every event, most headers) have none: a
# timestamp's 12 digits, a UUID's groups and an amount's are all too few.
_RUN = re.compile(f"[0-9]{{4}}[0-9{SEPARATOR_CHARS}]{{8,}}[0-9]")
_RUN_BYTES = re.compile(_RUN.pattern.encode())
_SEPARATOR_BYTES: Final = SEPARATOR_CHARS.encode()


def _runs(text: str) -> Iterator[re.Match[str]]:
    """The runs of ``text`` that hold 13 digits or more."""
    return (run for run in _RUN.finditer(text) if len(run.group().translate(_NOT_DIGITS)) >= 13)


# In bytes, a run is first looked for as a plain substring: every digit and separator
# becomes "0" and every other byte "x", so any run shows as 13 "0"s in a row. That costs a
# fifth of the regex over an event's ids, timestamps and amounts (each digit starts a regex
# attempt). Only a first pass: what it finds is checked by the regex.
_RUN_MARKS: Final = bytes(
    0x30 if byte in b"0123456789" + _SEPARATOR_BYTES else 0x78 for byte in range(256)
)
_RUN_OF_MARKS: Final = b"0" * 13


def has_digit_run(raw: bytes) -> bool:
    """Whether ``raw`` has a run of 13 or more digits and separators from a digit to a digit,
    inside which every grouped or contiguous card number lies, or a stretch a card number may be
    broken up in (:func:`_broken_stretches`): False rules a card number out of these bytes and
    out of their UTF-8 text. A first pass: True does not mean there is one."""
    if not raw.isascii():  # UTF-8 text may write digits in another script
        return True
    if _RUN_OF_MARKS in raw.translate(_RUN_MARKS) and _RUN_BYTES.search(raw) is not None:
        return True
    return next(broken_stretches_in_bytes(raw), None) is not None


def _candidates(text: str) -> Iterator[re.Match[str]]:
    """The candidates in ``text``, searched for only inside its runs. The candidate pattern
    tries its alternatives and look-arounds at every position: over a whole 1.4 KB event it
    cost 19 us, and one event in seven has a run (a UUID with two all-digit groups is one).
    A candidate is digits and separators from a digit to a digit, so it lies inside one
    run; each run is searched with the character after it, which the look-ahead reads (the
    look-behind reads before the start position by itself), so the matches and their
    positions are those of a search over the whole text."""
    for run in _runs(text):
        yield from _CANDIDATE.finditer(text, run.start(), run.end() + 1)


def _candidates_in_bytes(raw: bytes) -> Iterator[re.Match[bytes]]:
    """:func:`_candidates` for ASCII-compatible bytes, searched inside each stretch (the
    character after it included, which the look-ahead reads)."""
    for start, end in stretches(raw, _RUN_MARKS, _SEPARATOR_BYTES, 13):
        yield from _CANDIDATE_BYTES.finditer(raw, start, end + 1)


_TIMESTAMP_MS_DIGITS: Final = 13
# Glued to letters in an id, a run this long written together is a card number when brand-
# shaped (``cart4111111111111111``): every brand but Amex issues numbers this long. Shorter runs
# are an id's: a UUID never holds a run longer than 12, a millisecond timestamp has 13, and the
# simulators' 16 hex characters after a letter (orderflow_ops.ids) hold 15 at most (as a 15-digit
# Amex or Diners number, one such id in 200,000 would be refused), and an IMEI in a serial
# number has 15, every one Luhn-valid.
_GLUED_ID_DIGITS: Final = 16


def _is_card(
    text: str | bytes, start: int, end: int, *, identifier: bool, part: bool = False
) -> bool:
    written = text[start:end]
    written = written if isinstance(written, str) else written.decode("ascii")
    # A candidate and its groups hold digits and separators only: deleting the separators
    # leaves the digits. A filter per character was the largest cost of screening a megabyte
    # of "4111,4111,..." (12.7 s in all; 6.1 s with this).
    digits = written.translate(_NOT_DIGITS)
    if not (13 <= len(digits) <= 19 and luhn_valid(digits)):
        return False
    if len(written) == len(digits) == 13 and is_ean13(digits):
        return False  # a product code (see orderflow_contracts.product_codes)
    alone = stands_alone(text, start, end)
    shaped = card_brand(digits) is not None
    if identifier:
        glued = len(written) == len(digits) >= _GLUED_ID_DIGITS  # written together, glued
        return shaped and (alone or glued)
    # Groups listed with commas must be brand-shaped, and so must 13 digits: the cards of that
    # length are a brand's (Visa's first, Maestro), while a millisecond timestamp
    # (``1764492800000``, FastStream's message ids) passes Luhn one time in ten. So must a
    # ``part`` of a longer candidate: each run of its groups was one more chance, and an IBAN or
    # a tracking number printed in fours was refused one time in three (review, stop 44).
    unshaped_ok = not part and "," not in written and len(digits) > _TIMESTAMP_MS_DIGITS
    return shaped or (alone and unshaped_ok)


def _card_spans(
    text: AnyStr, match: re.Match[AnyStr], group: re.Pattern[AnyStr], *, identifier: bool
) -> tuple[list[tuple[int, int]], int]:
    """Where the candidate ``match`` holds card numbers, and where to search on from: itself,
    or else runs of its groups, left to right, the longest first (``4111 1111 1111 1111 737``:
    a PAN and its CVV make no card number, the first four groups do; so does
    ``1200 4111 1111 1111 1111`` without its first). The search goes on after the last card
    number found, or else from the candidate's second group: a candidate may have taken the
    first group of a card number written right after (``... 1111 5555 5555 5555 4444``)."""
    start, end = match.span()
    if _is_card(text, start, end, identifier=identifier):
        return [(start, end)], end
    groups = [found.span() for found in group.finditer(text, start, end)]
    if len(groups) < 2:  # no separator: one group, already tried
        return [], end
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        last = next(
            (
                j
                for j in range(len(groups) - 1, i - 1, -1)
                if (i, j) != (0, len(groups) - 1)
                and _is_card(text, groups[i][0], groups[j][1], identifier=identifier, part=True)
            ),
            None,
        )
        if last is None:
            i += 1
        else:
            spans.append((groups[i][0], groups[last][1]))
            i = last + 1
    return spans, spans[-1][1] if spans else groups[1][0]


def _spans_in(
    text: AnyStr,
    candidate: re.Pattern[AnyStr],
    group: re.Pattern[AnyStr],
    start: int,
    end: int,
    *,
    identifier: bool,
) -> Iterator[tuple[int, int]]:
    """The card numbers' spans in the run ``text[start:end]`` (searched with the character
    after it, which the look-ahead reads), in order, none overlapping. Linear: each search
    starts at a group the one before did not start at."""
    position = start
    while (match := candidate.search(text, position, end + 1)) is not None:
        spans, position = _card_spans(text, match, group, identifier=identifier)
        yield from spans


def _spans(text: str, *, identifier: bool) -> list[tuple[int, int]]:
    """The card numbers' spans in ``text`` as read (see :func:`.as_read`), mapped back."""
    readings = dot_readings(text, identifier)  # spans of each, merged
    spans = [span for dots in readings for span in _spans_read(text, identifier, dots)]
    return merged_spans(spans) if len(readings) > 1 else spans


def _spans_read(text: str, identifier: bool, dots: str) -> list[tuple[int, int]]:
    read, origin = as_read(text, dots=dots)
    spans = [
        span
        for run in _runs(read)
        for span in _spans_in(
            read, _CANDIDATE, DIGIT_GROUP, run.start(), run.end(), identifier=identifier
        )
    ]
    if not identifier:
        spans = with_broken(read, read, spans, 0, len(read))
    if origin is None:
        return spans
    return [(origin[start], origin[end - 1] + 1) for start, end in spans]


def find_card_numbers(text: str, *, identifier: bool = False) -> list[str]:
    """The substrings of ``text`` that are card numbers, in order of appearance.

    ``identifier=True`` applies the stricter rule for ids (see the module docstring).
    """
    return [text[start:end] for start, end in _spans(text, identifier=identifier)]


def digits_as_read(text: str) -> str | None:
    """The ASCII digits ``text`` holds as a person reads it (see :func:`.as_read`) when it holds
    only digits and separators; ``""`` when it holds neither; else None. What one piece of a
    card number written a piece an array element reads as."""
    read = as_read(text)[0].translate(_NOT_DIGITS)
    return read if read.isascii() and (not read or read.isdigit()) else None


def _may_hold(text: str, *, identifier: bool) -> bool:
    """False when ``text`` (ASCII) has no run a card number could be in: most texts, decided by
    one search, and for free text one more (:func:`_broken_stretches`)."""
    if _RUN.search(text) is not None and next(_runs(text), None) is not None:
        return True
    if identifier or len(text) < BROKEN_MIN_DIGITS:
        return False
    # In bytes: the marked copy's first pass spares most texts the search for stretches.
    return next(broken_stretches_in_bytes(text.encode()), None) is not None


def contains_card_number(text: str, *, identifier: bool = False) -> bool:
    """Whether ``text`` contains a card number (free-text rule unless ``identifier``); a second
    reading of printed dots (:func:`.dot_readings`) only when the first finds none."""
    if text.isascii() and not _may_hold(text, identifier=identifier):
        return False
    return any(_spans_read(text, identifier, dots) for dots in dot_readings(text, identifier))


def redact_card_numbers(text: str, replacement: str = REDACTED, *, identifier: bool = False) -> str:
    """``text`` with every card number replaced."""
    if text.isascii() and not _may_hold(text, identifier=identifier):
        return text  # most texts (every key and value of most log lines)
    return replaced_spans(text, _spans(text, identifier=identifier), replacement)


def _spans_in_bytes(raw: bytes, *, identifier: bool) -> list[tuple[int, int]]:
    """:func:`_spans` for ASCII-compatible bytes, in each of its stretches. Broken-up card
    numbers are looked for in the bytes read as Latin-1: one character a byte, so the positions
    are the same, and every byte that is not ASCII reads as neither a digit nor a gap."""
    spans = [
        span
        for start, end in stretches(raw, _RUN_MARKS, _SEPARATOR_BYTES, 13)
        for span in _spans_in(
            raw, _CANDIDATE_BYTES, _DIGIT_GROUP_BYTES, start, end, identifier=identifier
        )
    ]
    if identifier or next(broken_stretches_in_bytes(raw), None) is None:
        return spans
    return with_broken(raw.decode("latin-1"), raw, spans, 0, len(raw))


def redact_card_numbers_in_bytes(
    raw: bytes, replacement: bytes = REDACTED.encode(), *, identifier: bool = False
) -> bytes:
    """``raw`` (any encoding that writes digits and letters as ASCII, e.g. UTF-8 JSON) with
    every card number replaced; for keeping a message's original bytes without card data.
    UTF-8 that is not ASCII is read as text (its digits may be of any script)."""
    if not raw.isascii():
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            redacted = redact_card_numbers(
                text, replacement.decode("utf-8", "replace"), identifier=identifier
            )
            return raw if redacted == text else redacted.encode("utf-8")
    if not has_digit_run(raw):
        return raw
    return replaced_spans(raw, _spans_in_bytes(raw, identifier=identifier), replacement)


def contains_card_number_in_bytes(raw: bytes, *, identifier: bool = False) -> bool:
    """Whether ``raw`` (ASCII-compatible bytes) holds a card number; UTF-8 that is not ASCII is
    read as text (its digits may be of any script)."""
    if not raw.isascii():
        try:
            return contains_card_number(raw.decode("utf-8"), identifier=identifier)
        except UnicodeDecodeError:
            pass
    return bool(_spans_in_bytes(raw, identifier=identifier))


def may_hold_card_number(raw: bytes) -> bool:
    """False only when ``raw`` (UTF-8 JSON, or any ASCII-compatible bytes) cannot hold a card
    number under either rule, however it is decoded: it has no candidate digit run, no escape
    (``\\u0034`` spells a digit, ``\\n \\t \\/`` separators) and no character read otherwise
    among digits (see :func:`.as_read`: another script's digits...). A cheap first
    pass before a structural scan."""
    if b"\\" in raw:  # escapes: \\u0034 spells a digit, \\n \\t \\/ separators
        return True
    if not raw.isascii():
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return True
        if as_read(text)[1] is not None:  # digits of another script, invisible characters...
            return True
    return next(_candidates_in_bytes(raw), None) is not None or holds_broken_in_bytes(raw)

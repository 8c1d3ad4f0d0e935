"""Detection and redaction of card numbers (PANs): card data never enters the system.

Two rules, one for free text and a stricter one for identifiers. Both look at *candidates*:
a run of 13-19 ASCII digits not touching another digit (``4111111111111111``), or groups
written the way cards are printed, separated by single spaces or hyphens
(``4111 1111 1111 1111``, ``5500-0000-0000-0004``, Amex ``3782 822463 10005``). A grouped
candidate must not sit inside a word or next to a hyphen, so UUIDs are not mistaken for cards.
Every candidate must pass the Luhn check. A candidate *stands alone* when neither of its
neighbours is a letter or a digit (``_ - : . " /`` and spaces are separators), and is
*brand-shaped* when its digits start with the IIN of a real card brand and have a length that
brand issues (:data:`CARD_BRANDS`).

* **Free text** (addresses, reasons, notes, unknown fields, header names and values, log
  lines): a Luhn-valid candidate that stands alone, or that is brand-shaped even when glued to
  letters. So ``tok_4111111111111111`` and ``tok4111111111111111`` are card numbers (a prefix
  does not make a PAN safe), while a random digit run inside a word must also look like a real
  brand's number.
* **Identifiers** (:data:`ID_FIELDS`, Kafka keys, URL path segments): a Luhn-valid candidate
  that stands alone *and* is brand-shaped. A customer id ``4111111111111111`` or
  ``cust_5500000000000004`` is refused; digits glued to letters inside a generated id, as in
  ``cart-6940787722504b46``, are not a card number (one long digit run in ten passes Luhn, and
  such ids must never be refused), nor is a numeric id whose prefix no card brand issues.

False positives in free text remain possible (a standalone 16-digit number passes Luhn one time
in ten); for card data that is the safe side to err on. Pure functions, no I/O; every scan is a
linear regular-expression pass, so cost grows with the input's length only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

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
    }
)
"""Field names whose values are identifiers minted by some system: screened with the
identifier rule (see the module docstring), wherever in a document they appear."""


@dataclass(frozen=True)
class CardBrand:
    name: str
    prefixes: tuple[tuple[int, int], ...]  # inclusive ranges of leading digits, e.g. (51, 55)
    lengths: frozenset[int]

    def issues(self, digits: str) -> bool:
        if len(digits) not in self.lengths:
            return False
        for low, high in self.prefixes:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return True
        return False


_SIXTEEN_TO_19 = frozenset(range(16, 20))

CARD_BRANDS: Final = (
    CardBrand("visa", ((4, 4),), frozenset({13, 16, 19})),
    CardBrand("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    CardBrand("amex", ((34, 34), (37, 37)), frozenset({15})),
    CardBrand("discover", ((6011, 6011), (644, 649), (65, 65)), _SIXTEEN_TO_19),
    CardBrand("jcb", ((3528, 3589),), _SIXTEEN_TO_19),
    CardBrand("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), frozenset(range(14, 20))),
    CardBrand("unionpay", ((62, 62),), _SIXTEEN_TO_19),
    CardBrand(
        "maestro",
        ((5018, 5018), (5020, 5020), (5038, 5038), (5893, 5893), (6304, 6304), (6759, 6763)),
        frozenset(range(13, 20)),
    ),
    CardBrand("mir", ((2200, 2204),), _SIXTEEN_TO_19),
)
"""IIN (first digits) ranges and lengths of the card brands in use; see the module docstring."""

_CONTIGUOUS = r"(?<![0-9])[0-9]{13,19}(?![0-9])"
_GROUPED = (
    r"(?<![\w-])(?:[0-9]{4}(?:([ -])[0-9]{4}){2}(?:\1[0-9]{4})?\1[0-9]{1,7}"
    r"|[0-9]{4}([ -])[0-9]{6}\2[0-9]{4,5})(?![\w-])"
)
_CANDIDATE = re.compile(f"{_GROUPED}|{_CONTIGUOUS}")
_CANDIDATE_BYTES = re.compile(f"{_GROUPED}|{_CONTIGUOUS}".encode(), re.ASCII)
# Every candidate lies in a run of 13 or more digits, spaces and dashes from a digit to a
# digit. Searching for such a run is about ten times cheaper than for a candidate (no
# look-arounds, no alternation), and most texts (every event, most headers) have none.
_RUN = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
_RUN_BYTES = re.compile(rb"[0-9][0-9 -]{11,}[0-9]")
# In bytes, a run is first looked for as a plain substring: every digit, space and dash
# becomes "0" and every other byte "x", so any run shows as 13 "0"s in a row. That costs a
# fifth of the regex over an event's ids, timestamps and amounts (each digit starts a regex
# attempt). Only a first pass: what it finds is checked by the regex.
_RUN_MARKS: Final = bytes(0x30 if byte in b"0123456789 -" else 0x78 for byte in range(256))
_RUN_OF_MARKS: Final = b"0" * 13


def has_digit_run(raw: bytes) -> bool:
    """Whether ``raw`` has a run of 13 or more digits, spaces and dashes from a digit to a digit,
    inside which every card number (either rule) lies: False rules a card number out of these
    bytes and out of their UTF-8 text. A first pass: True does not mean there is one."""
    return _RUN_OF_MARKS in raw.translate(_RUN_MARKS) and _RUN_BYTES.search(raw) is not None


def _candidates(text: str) -> Iterator[re.Match[str]]:
    """The candidates in ``text``, searched for only inside its runs. The candidate pattern
    tries its alternatives and look-arounds at every position: over a whole 1.4 KB event it
    cost 19 us, and one event in seven has a run (a UUID with two all-digit groups is one).
    A candidate is digits, spaces and dashes from a digit to a digit, so it lies inside one
    run; each run is searched with the character after it, which the look-ahead reads (the
    look-behinds read before the start position by themselves), so the matches and their
    positions are those of a search over the whole text."""
    for run in _RUN.finditer(text):
        yield from _CANDIDATE.finditer(text, run.start(), run.end() + 1)


def _candidates_in_bytes(raw: bytes) -> Iterator[re.Match[bytes]]:
    """:func:`_candidates` for ASCII-compatible bytes, searched inside each stretch of digits,
    spaces and dashes 13 or longer, found in the marked copy (a run and its candidates lie in
    one such stretch; the run pattern itself starts an attempt at every digit of a document).
    ``marked.find`` of 13 marks finds a stretch at its start: had it begun earlier, 13 marks
    would have been found there."""
    marked = raw.translate(_RUN_MARKS)
    start = marked.find(_RUN_OF_MARKS)
    while start != -1:
        end = marked.find(b"x", start)
        end = len(raw) if end == -1 else end
        yield from _CANDIDATE_BYTES.finditer(raw, start, end + 1)
        start = marked.find(_RUN_OF_MARKS, end)


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn (mod 10) check."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The brand whose IIN ranges and lengths ``digits`` fits, or None."""
    if not digits.isascii() or not digits.isdigit():
        return None
    return next((brand.name for brand in CARD_BRANDS if brand.issues(digits)), None)


def _stands_alone(text: str | bytes, start: int, end: int) -> bool:
    # Slices, not indexing: bytes index to ints. bytes.isalnum() is ASCII-only, which is right
    # for UTF-8 input (a multi-byte letter is not glued to the digits in any card format).
    before = text[max(start - 1, 0) : start]
    after = text[end : end + 1]
    return not (before.isalnum() or after.isalnum())


def _is_card(
    text: str | bytes, match: re.Match[str] | re.Match[bytes], *, identifier: bool
) -> bool:
    raw = match.group(0)
    candidate = raw if isinstance(raw, str) else raw.decode("ascii")
    digits = candidate.replace(" ", "").replace("-", "")
    if not (13 <= len(digits) <= 19 and luhn_valid(digits)):
        return False
    alone = _stands_alone(text, match.start(), match.end())
    shaped = card_brand(digits) is not None
    return alone and shaped if identifier else alone or shaped


def find_card_numbers(text: str, *, identifier: bool = False) -> list[str]:
    """The substrings of ``text`` that are card numbers, in order of appearance.

    ``identifier=True`` applies the stricter rule for ids (see the module docstring).
    """
    return [
        match.group(0)
        for match in _candidates(text)
        if _is_card(text, match, identifier=identifier)
    ]


def contains_card_number(text: str, *, identifier: bool = False) -> bool:
    """Whether ``text`` contains a card number (free-text rule unless ``identifier``)."""
    if _RUN.search(text) is None:  # most texts: decided without building the generator
        return False
    return any(_is_card(text, match, identifier=identifier) for match in _candidates(text))


def redact_card_numbers(text: str, replacement: str = REDACTED, *, identifier: bool = False) -> str:
    """``text`` with every card number replaced."""
    if _RUN.search(text) is None:
        return text

    def replace(match: re.Match[str]) -> str:
        return replacement if _is_card(text, match, identifier=identifier) else match.group(0)

    return _CANDIDATE.sub(replace, text)


def redact_card_numbers_in_bytes(
    raw: bytes, replacement: bytes = REDACTED.encode(), *, identifier: bool = False
) -> bytes:
    """``raw`` (any encoding that writes digits and letters as ASCII, e.g. UTF-8 JSON) with
    every card number replaced; for keeping a message's original bytes without card data."""
    if not has_digit_run(raw):
        return raw

    def replace(match: re.Match[bytes]) -> bytes:
        return replacement if _is_card(raw, match, identifier=identifier) else match.group(0)

    return _CANDIDATE_BYTES.sub(replace, raw)


def contains_card_number_in_bytes(raw: bytes, *, identifier: bool = False) -> bool:
    """Whether ``raw`` (ASCII-compatible bytes) holds a card number."""
    return any(_is_card(raw, match, identifier=identifier) for match in _candidates_in_bytes(raw))


def may_hold_card_number(raw: bytes) -> bool:
    """False only when ``raw`` (UTF-8 JSON, or any ASCII-compatible bytes) cannot hold a card
    number under either rule, however it is decoded: it has no candidate digit run and no
    ``\\u`` escape (which could spell digits). A cheap first pass before a structural scan."""
    if b"\\u" in raw:
        return True
    return next(_candidates_in_bytes(raw), None) is not None

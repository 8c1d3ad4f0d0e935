"""Detection and redaction of card numbers (PANs) in text: card data never enters the system.

A candidate is a run of 13-19 digits that passes the Luhn check, either contiguous
(`4111111111111111`, also inside a longer token such as `tok_4111111111111111`) or written in
groups of four separated by single spaces or hyphens (`4111 1111 1111 1111`). Grouped forms
must stand alone (not inside a word, not next to a hyphen), so UUIDs are not mistaken for cards.

False positives are possible (any 13-19 digit number has a 1 in 10 chance of passing Luhn);
for redaction that is the safe side to err on. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Final

_CONTIGUOUS = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")
_GROUPED = re.compile(r"(?<![\w-])[0-9]{4}(?:([ -])[0-9]{4}){2}\1[0-9]{1,7}(?![\w-])")
_CONTIGUOUS_BYTES = re.compile(rb"(?<![0-9])[0-9]{13,19}(?![0-9])")
_GROUPED_BYTES = re.compile(rb"(?<![\w-])[0-9]{4}(?:([ -])[0-9]{4}){2}\1[0-9]{1,7}(?![\w-])")

REDACTED: Final = "[REDACTED-PAN]"


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check."""
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


def _is_card_number(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def find_card_numbers(text: str) -> list[str]:
    """The substrings of `text` that look like card numbers, in order of appearance."""
    found = [
        (match.start(), match.group(0))
        for pattern in (_CONTIGUOUS, _GROUPED)
        for match in pattern.finditer(text)
        if _is_card_number(match.group(0))
    ]
    return [candidate for _, candidate in sorted(found)]


def contains_card_number(text: str) -> bool:
    """Whether `text` contains anything that looks like a card number."""
    return bool(find_card_numbers(text))


def redact_card_numbers(text: str, replacement: str = REDACTED) -> str:
    """`text` with every card-number-like substring replaced."""

    def replace(match: re.Match[str]) -> str:
        return replacement if _is_card_number(match.group(0)) else match.group(0)

    return _GROUPED.sub(replace, _CONTIGUOUS.sub(replace, text))


def redact_card_numbers_in_bytes(raw: bytes, replacement: bytes = REDACTED.encode()) -> bytes:
    """`raw` (any encoding that writes digits as ASCII, e.g. UTF-8 JSON) with every
    card-number-like digit run replaced; for dead-lettering a message's original bytes."""

    def replace(match: re.Match[bytes]) -> bytes:
        candidate = match.group(0).decode("ascii")
        return replacement if _is_card_number(candidate) else match.group(0)

    return _GROUPED_BYTES.sub(replace, _CONTIGUOUS_BYTES.sub(replace, raw))

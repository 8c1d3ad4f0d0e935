"""What a card number is: the Luhn check, and the card brands' IIN ranges and lengths. Finding
card numbers in text is :mod:`orderflow_contracts.card_data`'s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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
"""IIN (first digits) ranges and lengths of the card brands in use; a number is *brand-shaped*
when one of them issues its first digits and its length."""


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

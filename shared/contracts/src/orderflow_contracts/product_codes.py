"""Product codes: what a SKU may be that is no card number though it reads as one."""

from __future__ import annotations

from typing import Final

PRODUCT_CODE_FIELDS: Final = frozenset({"sku"})
"""Field names whose values are product codes: an EAN-13 code there (see :func:`is_ean13`) is
no card number (see :mod:`orderflow_contracts.card_data`)."""


def is_ean13(text: str) -> bool:
    """Whether ``text`` is an EAN-13 product code: 13 ASCII digits, the last the GS1 check
    digit of the others (weights 1 and 3 from the left). Shops use them as SKUs, and those
    beginning with 4 (Germany's and Japan's codes) are Visa-shaped: one in ten passes Luhn.
    Visa has not issued 13-digit numbers for decades."""
    if len(text) != 13 or not text.isascii() or not text.isdigit():
        return False
    total = sum(int(digit) * (3 if place % 2 else 1) for place, digit in enumerate(text[:12]))
    return (10 - total % 10) % 10 == int(text[12])

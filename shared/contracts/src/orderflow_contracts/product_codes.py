"""Product codes that read as card numbers: the card-number rules
(:mod:`orderflow_contracts.card_data`) pass them over."""

from __future__ import annotations


def is_ean13(text: str) -> bool:
    """Whether ``text`` is an EAN-13 product code: 13 ASCII digits, the last the GS1 check
    digit of the others (weights 1 and 3 from the left). Shops use them as SKUs and quote them
    in messages; those beginning with 4 (Germany's and Japan's codes) are Visa-shaped, and one
    in ten passes Luhn. Visa has not issued 13-digit numbers for decades; Maestro, whose
    numbers may have 13 digits, is being retired (see decision 19)."""
    if len(text) != 13 or not text.isascii() or not text.isdigit():
        return False
    total = sum(int(digit) * (3 if place % 2 else 1) for place, digit in enumerate(text[:12]))
    return (10 - total % 10) % 10 == int(text[12])

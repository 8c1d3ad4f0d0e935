"""Card-number detection and redaction."""

from __future__ import annotations

import pytest
from orderflow_contracts import (
    contains_card_number,
    find_card_numbers,
    luhn_valid,
    redact_card_numbers,
    redact_card_numbers_in_bytes,
)


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("5500000000000004")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")
    assert not luhn_valid("41111111111111a1")
    assert not luhn_valid("\uff14\uff11\uff11\uff11")  # full-width digits are not ASCII digits


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "tok_4111111111111111",
        "card 5500 0000 0000 0004 exp 12/30",
        '{"n": "5500-0000-0000-0004"}',
        "378282246310005",  # 15-digit Amex test number
        "6011111111111117",
        "4222222222222",  # 13 digits
    ],
)
def test_card_numbers_are_found(text: str) -> None:
    assert contains_card_number(text)
    assert "[REDACTED-PAN]" in redact_card_numbers(text)
    assert not contains_card_number(redact_card_numbers(text))


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # fails Luhn
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits
        "5f0c6a8e-3c1b-4d7e-9a52-0b6f1d2e3a4b",
        "12345678-1234-5678-1234-567812345678",
        "2025-01-31T12:00:00Z",
        "JD014600003828383",
        "last4 4242, expiry 12/2030",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert find_card_numbers(text) == []
    assert redact_card_numbers(text) == text


def test_bytes_redaction_keeps_everything_else() -> None:
    raw = b'{"token":"4111111111111111","amount":"12.34","note":"4111 1111 1111 1111"}'
    assert redact_card_numbers_in_bytes(raw) == (
        b'{"token":"[REDACTED-PAN]","amount":"12.34","note":"[REDACTED-PAN]"}'
    )
    assert find_card_numbers("a 4111111111111111 b 5500-0000-0000-0004") == [
        "4111111111111111",
        "5500-0000-0000-0004",
    ]

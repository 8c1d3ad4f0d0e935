"""Card data never enters: every record is scanned before it is even decoded.

A record with anything that looks like a card number (13-19 digits passing Luhn, contiguous or
grouped) in ANY field is refused to the dead-letter topic, with those digits redacted from the
bytes kept there. The chassis calls this through ``Subscription(inspect_payload=...)``.

The raw bytes are scanned first; JSON strings are then scanned once decoded too, so a number
hidden behind ``\\u0034``-style escapes is caught as well (and the dead letter then holds the
re-encoded, redacted document).
"""

from __future__ import annotations

import json
from typing import Any

from orderflow_chassis.errors import PermanentError
from orderflow_contracts.card_data import (
    contains_card_number,
    redact_card_numbers,
    redact_card_numbers_in_bytes,
)

CARD_DATA_REFUSED = "card_data_refused"
_REASON = (
    "the message contains what looks like a card number (13-19 digits passing the Luhn check); "
    "card data must never be sent, only provider tokens. The digits were redacted from this "
    "dead letter."
)


def _has_card_number(value: Any) -> bool:
    if isinstance(value, str):
        return contains_card_number(value)
    if isinstance(value, dict):
        return any(_has_card_number(k) or _has_card_number(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_card_number(item) for item in value)
    return False


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_card_numbers(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def refuse_card_data(raw: bytes) -> None:
    redacted = redact_card_numbers_in_bytes(raw)
    if redacted != raw:
        raise PermanentError(CARD_DATA_REFUSED, _REASON, redacted_payload=redacted)
    try:
        document = json.loads(raw)
    except ValueError:
        return  # not JSON: the chassis dead-letters it as malformed_json
    if _has_card_number(document):
        cleaned = json.dumps(_redacted(document), separators=(",", ":")).encode()
        raise PermanentError(CARD_DATA_REFUSED, _REASON, redacted_payload=cleaned)

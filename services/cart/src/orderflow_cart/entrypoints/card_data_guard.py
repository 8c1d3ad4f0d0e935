"""Card data never enters the cart: storefront records are scanned before they are decoded.

Customers type into the shipping address and payment fields of a checkout; a card number typed
there (13-19 digits passing the Luhn check, contiguous or in groups of four) must not be stored,
buffered or kept in a dead letter. Such a record is refused to the dead-letter topic with the
digits redacted from the bytes kept there (``dlq.error_code`` ``card_data_refused``). The
chassis calls this through ``Subscription(inspect_payload=...)``.

Id fields (event, correlation, cart and customer ids) are not scanned: the storefront's ids are
opaque and may be long numbers, one in ten of which passes Luhn by chance.
"""

from __future__ import annotations

import json
from typing import Any, Final

from orderflow_chassis.errors import PermanentError
from orderflow_contracts.card_data import (
    contains_card_number,
    redact_card_numbers,
    redact_card_numbers_in_bytes,
)

CARD_DATA_REFUSED: Final = "card_data_refused"
_REASON: Final = (
    "the message contains what looks like a card number (13-19 digits passing the Luhn check) "
    "outside its id fields; card data must never be sent, only provider tokens. The digits were "
    "redacted from this dead letter."
)
_ID_FIELDS: Final = frozenset(
    {"event_id", "correlation_id", "causation_id", "aggregate_id", "cart_id", "customer_id"}
)


def _has_card_number(value: Any) -> bool:
    if isinstance(value, str):
        return contains_card_number(value)
    if isinstance(value, dict):
        return any(
            key not in _ID_FIELDS and (_has_card_number(key) or _has_card_number(item))
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_card_number(item) for item in value)
    return False


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_card_numbers(value)
    if isinstance(value, dict):
        return {
            _redacted(key): item if key in _ID_FIELDS else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def refuse_card_data(raw: bytes) -> None:
    """Raise PermanentError (with a redacted copy) if ``raw`` carries a card number."""
    try:
        document = json.loads(raw)
    except ValueError:
        # Not JSON (the chassis dead-letters it as malformed_json): keep no digits either.
        redacted = redact_card_numbers_in_bytes(raw)
        if redacted != raw:
            raise PermanentError(CARD_DATA_REFUSED, _REASON, redacted_payload=redacted) from None
        return
    if _has_card_number(document):
        cleaned = json.dumps(_redacted(document), separators=(",", ":")).encode()
        raise PermanentError(CARD_DATA_REFUSED, _REASON, redacted_payload=cleaned)

"""Card data never enters a service: records are scanned before they are decoded.

A record carrying what looks like a card number (13-19 digits passing the Luhn check,
contiguous or in groups) is refused to the dead-letter topic with those digits redacted from
the bytes kept there (``dlq.error_code`` = ``card_data_refused``). Use it as
``Subscription(inspect_payload=CardDataGuard(...))``.

JSON is scanned once decoded, so digits hidden behind ``\\u0034``-style escapes are caught too
(the dead letter then holds the re-encoded, redacted document); bytes that are not JSON are
redacted as they are.

Id fields are exempt (``OPAQUE_ID_FIELDS``): their values are opaque identifiers chosen by
other systems, and a long run of digits in one passes Luhn one time in ten — a cart id such as
``cart-6940787722504b46`` did, and the order behind it was dead-lettered. Refusing real orders
is the worse failure; the contract constrains id values to identifier patterns, and every
free-text and payment field is still scanned.
"""

from __future__ import annotations

import json
from typing import Any, Final

from orderflow_contracts.card_data import (
    contains_card_number,
    redact_card_numbers,
    redact_card_numbers_in_bytes,
)

from orderflow_chassis.errors import PermanentError

CARD_DATA_REFUSED: Final = "card_data_refused"
_REASON: Final = (
    "the message contains what looks like a card number (13-19 digits passing the Luhn check); "
    "card data must never be sent, only provider tokens. The digits were redacted from this "
    "dead letter."
)


OPAQUE_ID_FIELDS: Final = frozenset(
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
        "return_request_id",
    }
)


class CardDataGuard:
    def __init__(self, *, exempt_fields: frozenset[str] = OPAQUE_ID_FIELDS) -> None:
        self.exempt_fields = exempt_fields

    def __call__(self, raw: bytes) -> None:
        """Raise PermanentError (with a redacted copy) if ``raw`` carries a card number."""
        try:
            document = json.loads(raw)
        except ValueError:
            # Not JSON (the chassis dead-letters it as malformed_json): keep no digits either.
            redacted = redact_card_numbers_in_bytes(raw)
            if redacted != raw:
                raise PermanentError(
                    CARD_DATA_REFUSED, _REASON, redacted_payload=redacted
                ) from None
            return
        if self._has_card_number(document):
            cleaned = json.dumps(self._redacted(document), separators=(",", ":")).encode()
            raise PermanentError(CARD_DATA_REFUSED, _REASON, redacted_payload=cleaned)

    def _has_card_number(self, value: Any) -> bool:
        if isinstance(value, str):
            return contains_card_number(value)
        if isinstance(value, dict):
            return any(
                key not in self.exempt_fields
                and (self._has_card_number(key) or self._has_card_number(item))
                for key, item in value.items()
            )
        if isinstance(value, list):
            return any(self._has_card_number(item) for item in value)
        return False

    def _redacted(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact_card_numbers(value)
        if isinstance(value, dict):
            return {
                self._redacted(key): item if key in self.exempt_fields else self._redacted(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._redacted(item) for item in value]
        return value

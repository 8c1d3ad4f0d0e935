"""What a subscription's answer to a refused record is given: only what can safely be read."""

from __future__ import annotations

import json
import uuid

from aiokafka import ConsumerRecord
from orderflow_chassis.consumer_decoding import Refused
from orderflow_chassis.refusal_answers import read_refused

CARD = "4111111111111111"


def record(
    value: bytes, *, key: bytes | None = b"cart-1", headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "storefront.carts", 0, 7, 0, 0, key, value, None, len(key or b""), len(value), headers or []
    )


def envelope(**fields: object) -> bytes:
    body = {
        "event_id": str(uuid.uuid4()),
        "event_type": "CheckoutRequested",
        "correlation_id": "journey-1",
        **fields,
    }
    return json.dumps(body).encode()


REFUSED = Refused("invalid_event_data", "data.email: not an e-mail address")


def test_the_ids_the_type_and_the_cause_are_read_from_the_body() -> None:
    event_id = str(uuid.uuid4())
    read = read_refused(record(envelope(event_id=event_id.upper())), REFUSED)
    assert (read.event_type, read.key, read.event_id, read.correlation_id) == (
        "CheckoutRequested",
        "cart-1",
        event_id,
        "journey-1",
    )
    assert (read.code, read.reason) == ("invalid_event_data", "data.email: not an e-mail address")


def test_bytes_that_are_no_envelope_leave_only_the_header_type_and_the_key() -> None:
    headers = [("event_type", b"CheckoutRequested")]
    for value in (b'{"event_id": "not closed', b"[1, 2]", b"\xff\xfe", b'{"a":' * 5000):
        read = read_refused(record(value, headers=headers), REFUSED)
        assert (read.event_type, read.key, read.event_id, read.correlation_id) == (
            "CheckoutRequested",
            "cart-1",
            None,
            None,
        )


def test_a_type_the_contract_does_not_know_is_none() -> None:
    read = read_refused(record(envelope(event_type="CartTeleported")), REFUSED)
    assert read.event_type is None


def test_no_card_number_is_passed_on_in_key_correlation_or_reason() -> None:
    refused = Refused("card_data_refused", f"the token tok_{CARD} holds a card number")
    read = read_refused(
        record(envelope(correlation_id=f"j-{CARD}", event_id="no-uuid"), key=CARD.encode()),
        refused,
    )
    assert (read.key, read.correlation_id, read.event_id) == (None, None, None)
    assert CARD not in read.reason


def test_a_key_that_is_not_utf8_or_has_spaces_is_none() -> None:
    for key in (b"\xff\xfe", b"cart 1", b"", None):
        assert read_refused(record(envelope(), key=key), REFUSED).key is None

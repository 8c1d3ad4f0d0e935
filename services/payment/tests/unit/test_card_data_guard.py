"""The card-data guard: anything like a card number, anywhere, is refused and redacted."""

from __future__ import annotations

import json

import pytest
from orderflow_chassis.card_data_guard import screen_payload as refuse_card_data
from orderflow_chassis.errors import PermanentError
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_event


def refused(raw: bytes) -> bytes:
    with pytest.raises(PermanentError) as refusal:
        refuse_card_data(raw)
    assert refusal.value.code == "card_data_refused"
    assert refusal.value.redacted_payload is not None
    return refusal.value.redacted_payload


@pytest.mark.parametrize(
    "event_type", ["OrderPlaced", "OrderCancelled", "StockReserved", "RefundRequested"]
)
def test_real_events_pass(event_type: str) -> None:
    raw = Envelope.wrap(example_event(event_type), producer="t", correlation_id="c").to_bytes()
    refuse_card_data(raw)  # uuids, timestamps, amounts: nothing card-like


@pytest.mark.parametrize(
    "value", ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
)
def test_card_numbers_in_any_field_are_redacted(value: str) -> None:
    raw = json.dumps({"data": {"deep": [{"x": f"pay with {value} now"}]}}).encode()
    redacted = refused(raw)
    assert value.encode() not in redacted
    assert json.loads(redacted)["data"]["deep"][0]["x"] == "pay with [REDACTED-PAN] now"


def test_escaped_digits_are_caught_once_decoded() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in "4111111111111111")
    raw = ('{"data": {"note": "' + escaped + '"}}').encode()
    assert json.loads(refused(raw)) == {"data": {"note": "[REDACTED-PAN]"}}


def test_numbers_failing_luhn_and_non_json_pass() -> None:
    refuse_card_data(b'{"n": "4111111111111112"}')
    refuse_card_data(b"not json at all")

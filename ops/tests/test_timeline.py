"""The order timeline, built from a synthetic event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import ORDER_ID, RMA_ID, SHIPMENT_ID, example_event
from orderflow_ops.event_log import LoggedEvent
from orderflow_ops.timeline import build_timeline, related_ids, render_text

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
_offsets = count()


def logged(
    event_type: str, minutes: int, *, caused_by: Envelope | None = None, **changes: Any
) -> tuple[LoggedEvent, Envelope]:
    event = example_event(event_type)
    if changes:
        event = type(event).model_validate({**event.model_dump(mode="json"), **changes})
    envelope = Envelope.wrap(
        event,
        producer="test",
        correlation_id="journey-1",
        causation_id=str(caused_by.event_id) if caused_by else None,
        occurred_at=START + timedelta(minutes=minutes),
    )
    record = LoggedEvent(
        topic=type(event).topic,
        partition=0,
        offset=next(_offsets),
        timestamp_ms=0,
        envelope=envelope,
    )
    return record, envelope


def test_an_order_is_followed_through_its_shipments_and_rmas_in_time_order() -> None:
    placed, placed_env = logged("OrderPlaced", 0)
    requested, requested_env = logged("FulfillmentRequested", 2, caused_by=placed_env)
    # Keyed by shipment id only: found through FulfillmentRequested.
    dispatched, _ = logged("ParcelDispatched", 5, caused_by=requested_env)
    returned, _ = logged("ReturnParcelReceived", 9)
    authorized, _ = logged("ReturnAuthorized", 7)
    other_order, _ = logged(
        "OrderPlaced", 1, order_id="0b6f1d2e-3a4b-4d7e-9a52-5f0c6a8e3c1b", cart_id="cart-other"
    )
    log = [returned, dispatched, other_order, authorized, requested, placed]

    entries = build_timeline(ORDER_ID, log)

    assert [e.event_type for e in entries] == [
        "OrderPlaced",
        "FulfillmentRequested",
        "ParcelDispatched",
        "ReturnAuthorized",
        "ReturnParcelReceived",
    ]
    assert entries[1].caused_by == 1
    assert entries[2].caused_by == 2
    assert {SHIPMENT_ID, RMA_ID} <= related_ids(ORDER_ID, log)
    assert "FulfillmentRequested" in render_text(ORDER_ID, entries)


def test_dead_letters_of_the_order_are_shown_with_their_reason() -> None:
    placed, _ = logged("OrderPlaced", 0)
    refused = LoggedEvent(
        topic="payments.dlq",
        partition=0,
        offset=0,
        timestamp_ms=int((START + timedelta(minutes=3)).timestamp() * 1000),
        envelope=None,
        raw={"event_type": "PaymentCaptured", "data": {"order_id": ORDER_ID, "amount": 3}},
        dead_letter={"error_code": "invalid_event_data", "reason": "amount: not a string"},
    )

    entries = build_timeline(ORDER_ID, [placed, refused])

    assert entries[-1].event_type == "DeadLetter(PaymentCaptured)"
    assert "invalid_event_data" in entries[-1].summary


def test_an_unknown_order_has_an_empty_timeline() -> None:
    placed, _ = logged("OrderPlaced", 0)
    assert build_timeline("00000000-0000-4000-8000-000000000000", [placed]) == []

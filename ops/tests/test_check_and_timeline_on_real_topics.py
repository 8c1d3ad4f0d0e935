"""``orderflow-ops check`` and ``timeline`` against records on a real broker: whatever bytes
are on the topics, they report and never crash, and they never claim what they did not check."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.examples import example_event
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.cli import app
from typer.testing import CliRunner, Result

from tests.support.kafka_tools import publish_raw
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration

LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


def _envelope(
    event_type: str, minutes: float = 0, *, cause: Envelope | None = None, **data: object
) -> Envelope:
    event: Event = example_event(event_type)
    if data:
        event = type(event).model_validate({**event.model_dump(mode="json"), **data})
    return Envelope.wrap(
        event,
        producer="test",
        correlation_id="journey",
        causation_id=str(cause.event_id) if cause else None,
        occurred_at=LONG_AGO + timedelta(minutes=minutes),
    )


def _publish(
    kafka: str, prefix: str, records: Sequence[tuple[str, bytes]], *, keys: Sequence[bytes] = ()
) -> None:
    """Publish each (topic, value), keyed by ``keys`` in turn (``b"key"`` past them)."""

    async def publish() -> None:
        for index, (topic, value) in enumerate(records):
            key = keys[index] if index < len(keys) else b"key"
            await publish_raw(kafka, prefix + topic, [(key, value)])

    asyncio.run(publish())


def _publish_envelopes(kafka: str, prefix: str, envelopes: Sequence[Envelope]) -> None:
    """As their producers would: on each event's topic, keyed by its aggregate id."""
    records = [(type(e.parse_event()).topic, e.to_bytes()) for e in envelopes]
    _publish(kafka, prefix, records, keys=[e.key for e in envelopes])


def _ops(kafka: str, prefix: str, *args: str) -> Result:
    options = ["--bootstrap-servers", kafka, "--topic-prefix", prefix]
    return CliRunner().invoke(app, [*args, *options])


def _completed_order(order_id: str, cart_id: str) -> list[Envelope]:
    request = _envelope("CheckoutRequested", 0, cart_id=cart_id)
    return [
        request,
        _envelope("CartCheckedOut", 1, cause=request, cart_id=cart_id, order_id=order_id),
        _envelope("OrderPlaced", 1, cause=request, cart_id=cart_id, order_id=order_id),
        _envelope("PaymentAuthorized", 2, order_id=order_id),
        _envelope("StockReserved", 2, order_id=order_id),
        _envelope("PaymentCaptured", 3, order_id=order_id),
        _envelope("FulfillmentRequested", 4, order_id=order_id),
        _envelope("ShipmentDispatched", 5, order_id=order_id),
        _envelope("ShipmentDelivered", 6, order_id=order_id),
        _envelope("OrderCompleted", 6, order_id=order_id),
    ]


def _bad_records(order_id: str) -> list[tuple[str, bytes]]:
    """Records any producer could write: none of them is an event of the contract."""
    placed = json.loads(_envelope("OrderPlaced", 0, order_id=order_id).to_bytes())
    naive = {**placed, "event_id": str(uuid.uuid4()), "occurred_at": "2026-11-24T09:00:00"}
    wrong_types = {**placed, "event_id": str(uuid.uuid4()), "data": {"order_id": order_id}}
    wrong_types["data"]["total"] = 5
    unknown_type = {**placed, "event_id": str(uuid.uuid4()), "event_type": "OrderTeleported"}
    # Deep enough that walking it recursively exhausts Python's stack, shallow enough to parse.
    nested: object = {"order_id": order_id}
    for _ in range(900):
        nested = [nested]
    deep_but_parseable = {"event_type": "Odd", "data": {"order_id": order_id, "x": nested}}
    return [
        (topics.ORDERS, json.dumps(naive).encode()),
        (topics.ORDERS, json.dumps(wrong_types).encode()),
        (topics.ORDERS, json.dumps(unknown_type).encode()),
        (topics.ORDERS, b"{not json"),
        (topics.ORDERS, b"[" * 100_000 + b"]" * 100_000),
        (topics.PAYMENTS, json.dumps(deep_but_parseable).encode()),
    ]


def test_unreadable_records_are_counted_and_listed_and_the_order_is_still_checked(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka, prefix = orderflow_infrastructure.kafka_bootstrap_servers, unique_prefix("ops-bad")
    order_id = str(uuid.uuid4())
    _publish_envelopes(kafka, prefix, _completed_order(order_id, f"cart-{order_id[:8]}"))
    _publish(kafka, prefix, _bad_records(order_id))

    result = _ops(kafka, prefix, "check", "--no-service-checks")

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "6 unreadable" in result.output
    assert f"{prefix}orders[" in result.output  # each listed by its position
    assert "orders checked: 1" in result.output
    assert "no violations in 1 order(s) and 1 checkout request(s)" in result.output


def test_the_timeline_of_an_order_shows_its_events_beside_unreadable_records(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka, prefix = orderflow_infrastructure.kafka_bootstrap_servers, unique_prefix("ops-tl")
    order_id = str(uuid.uuid4())
    _publish_envelopes(kafka, prefix, _completed_order(order_id, f"cart-{order_id[:8]}"))
    _publish(kafka, prefix, _bad_records(order_id))

    text = _ops(kafka, prefix, "timeline", order_id)
    as_json = _ops(kafka, prefix, "timeline", order_id, "--json")

    for result in (text, as_json):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert result.exit_code == 0, result.output
    assert "OrderCompleted" in text.output
    assert "OrderTeleported" in text.output  # a record naming the order, shown as it is
    assert "not events of the contract" in text.output


def test_an_out_of_stock_order_that_payment_never_authorised_is_final_not_stuck(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka, prefix = orderflow_infrastructure.kafka_bootstrap_servers, unique_prefix("ops-oos")
    order_id, cart_id = str(uuid.uuid4()), "cart-oos"
    request = _envelope("CheckoutRequested", 0, cart_id=cart_id)
    _publish_envelopes(
        kafka,
        prefix,
        [
            request,
            _envelope("CartCheckedOut", 1, cause=request, cart_id=cart_id, order_id=order_id),
            _envelope("OrderPlaced", 1, cause=request, cart_id=cart_id, order_id=order_id),
            _envelope("StockUnavailable", 2, order_id=order_id),
            _envelope("OrderCancelled", 3, order_id=order_id),
        ],
    )

    result = _ops(kafka, prefix, "check", "--no-service-checks")

    assert result.exit_code == 0, result.output
    assert "out_of_stock" in result.output
    assert "stuck" not in result.output


def test_a_checkout_request_never_answered_is_a_finding_after_the_settle_window(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka, prefix = orderflow_infrastructure.kafka_bootstrap_servers, unique_prefix("ops-ask")
    order_id = str(uuid.uuid4())
    _publish_envelopes(kafka, prefix, _completed_order(order_id, "cart-answered"))
    _publish_envelopes(kafka, prefix, [_envelope("CheckoutRequested", 30, cart_id="cart-lost")])

    late = _ops(kafka, prefix, "check", "--no-service-checks", "--settle-seconds", "60")
    settling = _ops(kafka, prefix, "check", "--no-service-checks", "--settle-seconds", "86400")

    assert late.exit_code == 1, late.output
    assert "checkout_unanswered" in late.output
    assert "cart-lost" in late.output
    assert "cart-answered" not in late.output
    assert settling.exit_code == 0, settling.output


def test_an_empty_log_is_nothing_to_check_not_a_clean_bill(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka, prefix = orderflow_infrastructure.kafka_bootstrap_servers, unique_prefix("ops-none")

    result = _ops(kafka, prefix, "check", "--no-service-checks")

    assert result.exit_code == 0, result.output
    assert "nothing to check" in result.output
    assert "no violations" not in result.output
    assert "checked: 0 order(s) in the event log" in result.output


def test_a_record_holding_a_card_number_is_shown_and_listed_with_it_redacted(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka, prefix = orderflow_infrastructure.kafka_bootstrap_servers, unique_prefix("ops-pan")
    order_id, pan = str(uuid.uuid4()), "4111111111111111"
    _publish_envelopes(kafka, prefix, _completed_order(order_id, f"cart-{order_id[:8]}"))
    # As a storefront could write it; the services refuse it, the topic still holds it.
    refused = json.loads(_envelope("ReturnRequested", 7, order_id=order_id).to_bytes())
    refused["data"]["reason"] = f"charge card {pan} instead"
    unknown = {**refused, "event_id": str(uuid.uuid4()), "event_type": pan}
    _publish(
        kafka,
        prefix,
        [
            (topics.STOREFRONT_RETURNS, json.dumps(refused).encode()),
            (topics.STOREFRONT_RETURNS, json.dumps(unknown).encode()),
        ],
    )

    text = _ops(kafka, prefix, "timeline", order_id)
    as_json = _ops(kafka, prefix, "timeline", order_id, "--json")
    checked = _ops(kafka, prefix, "check", "--no-service-checks")

    for result in (text, as_json, checked):
        assert result.exit_code == 0, result.output
        assert pan not in result.output
    assert "reason=charge card [REDACTED-PAN] instead" in text.output
    assert "unknown event_type '[REDACTED-PAN]'" in checked.output

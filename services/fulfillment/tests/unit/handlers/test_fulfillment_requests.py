"""PaymentCaptured asks the warehouses to ship; a capture of an order not held ships nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from orderflow_contracts.events import (
    FulfillmentRequested,
    ReservationReleased,
    ShipmentLine,
    StockUnavailable,
)
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers.expiry import expire_reservations
from orderflow_fulfillment.handlers.fulfillment_requests import request_fulfillment
from orderflow_fulfillment.handlers.reservations import release_on_payment_voided

from services.fulfillment.tests.builders import address, payment_captured, payment_voided
from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import (
    ORDER_JOURNEY,
    SETTINGS,
    place,
    place_and_capture,
)


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"SPIKY": 2, "SPLINT": 0})
    fake.stock.add_warehouse("US", "US", {"SPLINT": 1})
    return fake


async def capture(fulfillment: FakeFulfillment, order_id: uuid.UUID) -> None:
    captured = payment_captured(order_id)
    await request_fulfillment(
        captured, fulfillment.unit(captured, correlation_id="journey-payment")
    )


async def void(fulfillment: FakeFulfillment, order_id: uuid.UUID) -> None:
    voided = payment_voided(order_id)
    await release_on_payment_voided(voided, fulfillment.unit(voided))


async def test_a_capture_asks_each_warehouse_of_the_order_to_ship_its_shipment(
    fulfillment: FakeFulfillment,
) -> None:
    order_id, requests = await place_and_capture(fulfillment, {"SPIKY": 2, "SPLINT": 1})

    by_warehouse = {r.warehouse_id: r for r in requests}
    assert set(by_warehouse) == {"EU", "US"}
    assert by_warehouse["EU"].lines == [ShipmentLine(sku="SPIKY", name="Product SPIKY", quantity=2)]
    assert by_warehouse["US"].lines == [
        ShipmentLine(sku="SPLINT", name="Product SPLINT", quantity=1)
    ]
    for request in requests:
        assert request.order_id == order_id
        assert request.ship_to == address("DE")
        assert request.shipping_service == "standard"
        assert request.replacement is False
        assert request.warranty_claim_id is None
    shipments = {s.shipment_id: s for s in fulfillment.shipments.of_order(order_id)}
    assert {r.shipment_id for r in requests} == set(shipments)
    assert {s.status for s in shipments.values()} == {ShipmentStatus.REQUESTED}
    assert fulfillment.orders.status(order_id) is OrderStatus.FULFILLING
    stored = fulfillment.orders.orders[order_id]
    assert stored.stamps["captured_at"] == fulfillment.clock.now()
    # Requests belong to the customer's journey, not to the payment that triggered them.
    assert {e.correlation_id for e in fulfillment.emitted.envelopes[-2:]} == {ORDER_JOURNEY}


async def test_a_second_capture_report_asks_the_warehouses_nothing_more(
    fulfillment: FakeFulfillment,
) -> None:
    order_id, first = await place_and_capture(fulfillment, {"SPIKY": 1})
    captured_at = fulfillment.clock.now()
    fulfillment.clock.advance(timedelta(minutes=1))

    await capture(fulfillment, order_id)

    assert len(first) == 1
    assert len(fulfillment.emitted.of_type(FulfillmentRequested)) == 1
    assert fulfillment.orders.orders[order_id].stamps["captured_at"] == captured_at


async def test_a_capture_of_an_order_never_placed_is_recorded(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = uuid.uuid4()

    await capture(fulfillment, order_id)

    assert fulfillment.emitted.envelopes == []
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.UNKNOWN_ORDER)
    assert (anomaly["order_id"], anomaly["event_type"]) == (order_id, "PaymentCaptured")


async def test_a_capture_after_the_reservation_expired_ships_nothing(
    fulfillment: FakeFulfillment,
) -> None:
    # The cart cancels the order on ReservationReleased(expired), and payment refunds the
    # capture on OrderCancelled: shipping it too would end the order shipped and refunded.
    order_id = await place(fulfillment, {"SPIKY": 2})
    fulfillment.clock.advance(timedelta(seconds=SETTINGS.reservation_ttl_s + 1))
    assert (
        await expire_reservations(fulfillment.transactions, expired_by=fulfillment.clock.now()) == 1
    )
    [released] = fulfillment.emitted.of_type(ReservationReleased)
    assert released.reason == "expired"
    emitted_before = len(fulfillment.emitted.envelopes)

    await capture(fulfillment, order_id)

    assert len(fulfillment.emitted.envelopes) == emitted_before
    assert fulfillment.emitted.of_type(FulfillmentRequested) == []
    assert fulfillment.stock.level("EU", "SPIKY") == (2, 0)
    assert fulfillment.orders.status(order_id) is OrderStatus.RELEASED
    assert {s.status for s in fulfillment.shipments.of_order(order_id)} == {ShipmentStatus.RELEASED}
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CAPTURED_AFTER_RELEASE)
    assert anomaly["detail"] == {"order_status": "released", "release_reason": "expired"}


async def test_a_capture_of_an_order_found_short_ships_nothing(
    fulfillment: FakeFulfillment,
) -> None:
    await place(fulfillment, {"SPIKY": 2})  # takes both units
    order_id = await place(fulfillment, {"SPIKY": 1})
    [unavailable] = fulfillment.emitted.of_type(StockUnavailable)
    assert unavailable.order_id == order_id
    emitted_before = len(fulfillment.emitted.envelopes)

    await capture(fulfillment, order_id)

    assert len(fulfillment.emitted.envelopes) == emitted_before
    assert fulfillment.stock.level("EU", "SPIKY") == (2, 2)
    assert fulfillment.orders.status(order_id) is OrderStatus.UNAVAILABLE
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CAPTURED_WITHOUT_STOCK)
    assert anomaly["detail"] == {"order_status": "unavailable", "release_reason": None}


async def test_a_capture_of_an_order_whose_payment_failed_before_it_was_placed_ships_nothing(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = uuid.uuid4()
    await void(fulfillment, order_id)  # remembered: an order with no lines, no address

    await capture(fulfillment, order_id)

    assert fulfillment.emitted.envelopes == []
    assert fulfillment.orders.status(order_id) is OrderStatus.RELEASED
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CAPTURED_AFTER_RELEASE)
    assert anomaly["detail"] == {"order_status": "released", "release_reason": "payment_voided"}

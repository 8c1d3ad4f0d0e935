"""OrderPlaced holds stock (all lines or none); payment outcomes and cancellations give it back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    Event,
    ReservationReleased,
    ShortLine,
    StockReserved,
    StockUnavailable,
)
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers.reservations import (
    release_on_order_cancelled,
    release_on_payment_declined,
    release_on_payment_voided,
    reserve_stock,
)
from orderflow_fulfillment.ports import FulfillmentRepositories

from services.fulfillment.tests.builders import (
    order_cancelled,
    order_placed,
    payment_declined,
    payment_voided,
)
from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import (
    ORDER_JOURNEY,
    SETTINGS,
    place,
    place_and_capture,
)


def allocations(event: StockReserved | ReservationReleased) -> set[tuple[str, str, int]]:
    return {(a.warehouse_id, a.sku, a.quantity) for a in event.allocations}


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"SPIKY": 5, "SPLINT": 3}, near=["FR"])
    fake.stock.add_warehouse("US", "US", {"SPIKY": 5, "SPLINT": 3})
    return fake


async def test_an_order_is_held_in_the_nearest_warehouse_that_has_everything(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = await place(fulfillment, {"SPIKY": 2, "SPLINT": 1}, country="FR")

    [reserved] = fulfillment.emitted.of_type(StockReserved)
    assert reserved.order_id == order_id
    assert allocations(reserved) == {("EU", "SPIKY", 2), ("EU", "SPLINT", 1)}
    assert reserved.expires_at == fulfillment.clock.now() + timedelta(seconds=600)
    [envelope] = fulfillment.emitted.envelopes
    assert envelope.correlation_id == ORDER_JOURNEY
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 2)
    assert fulfillment.stock.level("EU", "SPLINT") == (3, 1)
    assert fulfillment.stock.level("US", "SPIKY") == (5, 0)
    assert fulfillment.orders.status(order_id) is OrderStatus.RESERVED
    [shipment] = fulfillment.shipments.of_order(order_id)
    assert (shipment.warehouse_id, shipment.status) == ("EU", ShipmentStatus.RESERVED)
    assert {(ln.sku, ln.name, ln.quantity) for ln in shipment.lines} == {
        ("SPIKY", "Product SPIKY", 2),
        ("SPLINT", "Product SPLINT", 1),
    }
    assert shipment.shipping_service == "standard"


async def test_an_order_no_warehouse_can_ship_alone_gets_one_shipment_per_warehouse() -> None:
    fulfillment = FakeFulfillment()
    fulfillment.stock.add_warehouse("EU", "DE", {"SPIKY": 2})
    fulfillment.stock.add_warehouse("US", "US", {"SPLINT": 1})

    order_id = await place(fulfillment, {"SPIKY": 2, "SPLINT": 1})

    [reserved] = fulfillment.emitted.of_type(StockReserved)
    assert allocations(reserved) == {("EU", "SPIKY", 2), ("US", "SPLINT", 1)}
    assert sorted(s.warehouse_id for s in fulfillment.shipments.of_order(order_id)) == [
        "EU",
        "US",
    ]


async def test_a_short_line_holds_nothing_and_every_short_line_is_listed(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = await place(fulfillment, {"SPIKY": 11, "SPLINT": 1, "GHOST": 2})

    assert fulfillment.emitted.of_type(StockReserved) == []
    [unavailable] = fulfillment.emitted.of_type(StockUnavailable)
    assert unavailable.order_id == order_id
    assert unavailable.short_lines == [
        ShortLine(sku="SPIKY", requested=11, available=10),
        ShortLine(sku="GHOST", requested=2, available=0),
    ]
    assert fulfillment.stock.level("EU", "SPLINT") == (3, 0)
    assert fulfillment.stock.level("US", "SPLINT") == (3, 0)
    assert fulfillment.orders.status(order_id) is OrderStatus.UNAVAILABLE
    assert fulfillment.shipments.of_order(order_id) == []


async def test_an_order_placed_delivered_again_with_a_new_event_id_holds_stock_once(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = uuid.uuid4()
    for _ in range(2):
        placed = order_placed(order_id, {"SPIKY": 2}, "DE")
        await reserve_stock(placed, fulfillment.unit(placed), settings=SETTINGS)

    assert len(fulfillment.emitted.of_type(StockReserved)) == 1
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 2)
    assert len(fulfillment.shipments.of_order(order_id)) == 1


@pytest.mark.parametrize(
    ("outcome", "release", "reason"),
    [
        (payment_declined, release_on_payment_declined, "payment_declined"),
        (payment_voided, release_on_payment_voided, "payment_voided"),
        (order_cancelled, release_on_order_cancelled, "order_cancelled"),
    ],
)
async def test_a_failed_payment_or_a_cancelled_order_gives_the_stock_back(
    fulfillment: FakeFulfillment,
    outcome: Callable[[uuid.UUID], Event],
    release: Callable[[Any, UnitOfWork[FulfillmentRepositories]], Awaitable[None]],
    reason: str,
) -> None:
    order_id = await place(fulfillment, {"SPIKY": 3})
    event = outcome(order_id)

    await release(event, fulfillment.unit(event, correlation_id="journey-payment"))

    [released] = fulfillment.emitted.of_type(ReservationReleased)
    assert (released.order_id, released.reason) == (order_id, reason)
    assert allocations(released) == {("EU", "SPIKY", 3)}
    assert fulfillment.emitted.envelopes[-1].correlation_id == ORDER_JOURNEY
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 0)
    assert fulfillment.orders.status(order_id) is OrderStatus.RELEASED
    assert fulfillment.orders.orders[order_id].record.release_reason == reason
    assert {s.status for s in fulfillment.shipments.of_order(order_id)} == {ShipmentStatus.RELEASED}


async def test_a_second_payment_failure_releases_nothing_more(fulfillment: FakeFulfillment) -> None:
    order_id = await place(fulfillment, {"SPIKY": 3})
    for _ in range(2):
        declined = payment_declined(order_id)
        await release_on_payment_declined(declined, fulfillment.unit(declined))

    assert len(fulfillment.emitted.of_type(ReservationReleased)) == 1
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 0)


async def test_a_decline_read_before_its_order_keeps_the_order_from_reserving(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = uuid.uuid4()
    declined = payment_declined(order_id)
    await release_on_payment_declined(declined, fulfillment.unit(declined))
    assert fulfillment.emitted.envelopes == []
    assert fulfillment.orders.status(order_id) is OrderStatus.RELEASED

    placed = order_placed(order_id, {"SPIKY": 1}, "DE")
    await reserve_stock(placed, fulfillment.unit(placed), settings=SETTINGS)
    # The same order again under a new event id (a producer retrying) is answered once.
    again = order_placed(order_id, {"SPIKY": 1}, "DE")
    await reserve_stock(again, fulfillment.unit(again), settings=SETTINGS)

    # Answered as a decline read in order would have been, with nothing given back.
    [released] = fulfillment.emitted.of_type(ReservationReleased)
    assert (released.order_id, released.reason, released.allocations) == (
        order_id,
        "payment_declined",
        [],
    )
    assert len(fulfillment.emitted.envelopes) == 1
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 0)
    assert fulfillment.orders.status(order_id) is OrderStatus.RELEASED
    assert [line.sku for line in await fulfillment.orders.order_lines(order_id)] == ["SPIKY"]


async def test_a_cancellation_after_the_warehouses_were_asked_is_recorded_and_releases_nothing(
    fulfillment: FakeFulfillment,
) -> None:
    order_id, _ = await place_and_capture(fulfillment, {"SPIKY": 2})

    cancelled = order_cancelled(order_id)
    await release_on_order_cancelled(cancelled, fulfillment.unit(cancelled))

    assert fulfillment.emitted.of_type(ReservationReleased) == []
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 2)
    assert fulfillment.orders.status(order_id) is OrderStatus.FULFILLING
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CANCELLED_AFTER_FULFILLMENT_REQUESTED)
    assert anomaly["order_id"] == order_id
    assert anomaly["event_type"] == "OrderCancelled"
    assert anomaly["detail"] == {"cause": "order_cancelled", "order_status": "fulfilling"}


async def test_a_decline_meeting_its_order_being_placed_by_another_instance_releases_it(
    fulfillment: FakeFulfillment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by review (helper 105): the decline's lookup ran before the other instance's
    # OrderPlaced committed, so it found no order; its marker's insert then found the order
    # and did nothing, and the decline was taken as applied: the stock stayed held.
    order_id = await place(fulfillment, {"SPIKY": 3})
    orders = fulfillment.orders
    looked_up = orders.lock_order
    misses = iter([True])

    async def not_yet_committed(order_id: uuid.UUID, *, lock: bool = True) -> Any:
        return None if next(misses, False) else await looked_up(order_id, lock=lock)

    monkeypatch.setattr(orders, "lock_order", not_yet_committed)
    declined = payment_declined(order_id)

    await release_on_payment_declined(declined, fulfillment.unit(declined))

    [released] = fulfillment.emitted.of_type(ReservationReleased)
    assert (released.reason, allocations(released)) == ("payment_declined", {("EU", "SPIKY", 3)})
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 0)

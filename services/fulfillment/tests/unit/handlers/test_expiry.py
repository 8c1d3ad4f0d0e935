"""Reservations with no payment outcome before their expiry are released by the job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from orderflow_contracts.events import ReservationReleased
from orderflow_fulfillment.domain.shipments import OrderStatus
from orderflow_fulfillment.handlers.expiry import expire_reservations

from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import ORDER_JOURNEY, place, place_and_capture

TTL = timedelta(seconds=600)


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"PEANUT": 10})
    return fake


async def test_a_reservation_past_its_expiry_is_released(fulfillment: FakeFulfillment) -> None:
    order_id = await place(fulfillment, {"PEANUT": 3})
    fulfillment.clock.advance(TTL)

    assert await expire_reservations(fulfillment.transactions) == 1

    [released] = fulfillment.emitted.of_type(ReservationReleased)
    assert (released.order_id, released.reason) == (order_id, "expired")
    [_, envelope] = fulfillment.emitted.envelopes
    assert (envelope.correlation_id, envelope.causation_id) == (ORDER_JOURNEY, None)
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 0)
    assert fulfillment.orders.status(order_id) is OrderStatus.RELEASED
    assert fulfillment.orders.orders[order_id].stamps["released_at"] == fulfillment.clock.now()


async def test_reservations_not_yet_expired_or_already_paid_are_kept(
    fulfillment: FakeFulfillment,
) -> None:
    paid, _ = await place_and_capture(fulfillment, {"PEANUT": 2})
    fulfillment.clock.advance(TTL / 2)
    waiting = await place(fulfillment, {"PEANUT": 3})
    fulfillment.clock.advance(TTL / 2 + timedelta(seconds=1))

    assert await expire_reservations(fulfillment.transactions) == 0

    assert fulfillment.emitted.of_type(ReservationReleased) == []
    assert fulfillment.orders.status(paid) is OrderStatus.FULFILLING
    assert fulfillment.orders.status(waiting) is OrderStatus.RESERVED
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 5)


async def test_more_expired_reservations_than_a_batch_are_all_released(
    fulfillment: FakeFulfillment,
) -> None:
    orders = [await place(fulfillment, {"PEANUT": 1}) for _ in range(5)]
    fulfillment.clock.advance(TTL)

    assert await expire_reservations(fulfillment.transactions, batch_size=2) == 5

    released = fulfillment.emitted.of_type(ReservationReleased)
    assert sorted(e.order_id for e in released) == sorted(orders)
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 0)
    assert await expire_reservations(fulfillment.transactions) == 0

"""Reservations with no payment outcome before their expiry are released by the job."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import structlog.testing
from orderflow_contracts.events import ReservationReleased
from orderflow_fulfillment.domain.shipments import OrderStatus
from orderflow_fulfillment.handlers.expiry import expire_reservations
from orderflow_fulfillment.ports import OrderRecord

from services.fulfillment.tests.fakes import FakeFulfillment, InMemoryOrders
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


def release_fails_for(
    monkeypatch: pytest.MonkeyPatch, order_id: uuid.UUID, error: Exception
) -> None:
    """Reading ``order_id`` for its release raises ``error`` (on the class: a rolled-back
    fake transaction restores a copy of the repositories)."""
    lock_order = InMemoryOrders.lock_order

    async def failing(
        self: InMemoryOrders, wanted: uuid.UUID, *, lock: bool = True
    ) -> OrderRecord | None:
        if wanted == order_id:
            raise error
        return await lock_order(self, wanted, lock=lock)

    monkeypatch.setattr(InMemoryOrders, "lock_order", failing)


async def test_a_reservation_whose_release_keeps_failing_holds_back_no_other(
    fulfillment: FakeFulfillment, monkeypatch: pytest.MonkeyPatch
) -> None:
    poisoned = await place(fulfillment, {"PEANUT": 1})  # the oldest: first of every batch
    fulfillment.clock.advance(timedelta(seconds=1))
    others = [await place(fulfillment, {"PEANUT": 1}) for _ in range(4)]
    fulfillment.clock.advance(TTL)
    release_fails_for(monkeypatch, poisoned, KeyError("a row the code cannot read"))

    with structlog.testing.capture_logs() as logs:
        assert await expire_reservations(fulfillment.transactions, batch_size=2) == 4

    released = fulfillment.emitted.of_type(ReservationReleased)
    assert sorted(e.order_id for e in released) == sorted(others)
    assert fulfillment.orders.status(poisoned) is OrderStatus.RESERVED, "left as it was"
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 1), "its unit still held"
    [skipped] = [e for e in logs if e["event"] == "periodic_job.item_skipped"]
    assert (skipped["item"], skipped["log_level"]) == (str(poisoned), "error")
    assert "exc_info" in skipped

    with structlog.testing.capture_logs() as logs:
        assert await expire_reservations(fulfillment.transactions, batch_size=2) == 0
    assert [e["item"] for e in logs if e["event"] == "periodic_job.item_skipped"] == [
        str(poisoned)
    ], "tried once more next round, not over and over"


async def test_a_transient_failure_ends_the_round_with_nothing_half_released(
    fulfillment: FakeFulfillment, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await place(fulfillment, {"PEANUT": 1})
    fulfillment.clock.advance(timedelta(seconds=1))
    second = await place(fulfillment, {"PEANUT": 1})
    fulfillment.clock.advance(TTL)
    release_fails_for(monkeypatch, second, ConnectionError("the database restarts"))

    with pytest.raises(ConnectionError):
        await expire_reservations(fulfillment.transactions)

    assert fulfillment.emitted.of_type(ReservationReleased) == []
    assert [fulfillment.orders.status(o) for o in (first, second)] == [OrderStatus.RESERVED] * 2
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 2)

"""Reservations with no payment outcome before their expiry are released by the job."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import structlog.testing
from orderflow_contracts.events import ReservationReleased
from orderflow_fulfillment.domain.shipments import OrderStatus
from orderflow_fulfillment.handlers.expiry import ReservationExpiry, expire_reservations
from orderflow_fulfillment.ports import OrderRecord

from services.fulfillment.tests.fakes import FakeFulfillment, InMemoryOrders
from services.fulfillment.tests.unit.handlers.steps import (
    ORDER_JOURNEY,
    capture,
    place,
    place_and_capture,
)

TTL = timedelta(seconds=600)


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"PEANUT": 10})
    return fake


async def test_a_reservation_past_its_expiry_is_released(fulfillment: FakeFulfillment) -> None:
    order_id = await place(fulfillment, {"PEANUT": 3})
    fulfillment.clock.advance(TTL)

    assert (
        await expire_reservations(fulfillment.transactions, expired_by=fulfillment.clock.now()) == 1
    )

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

    assert (
        await expire_reservations(fulfillment.transactions, expired_by=fulfillment.clock.now()) == 0
    )

    assert fulfillment.emitted.of_type(ReservationReleased) == []
    assert fulfillment.orders.status(paid) is OrderStatus.FULFILLING
    assert fulfillment.orders.status(waiting) is OrderStatus.RESERVED
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 5)


async def test_more_expired_reservations_than_a_batch_are_all_released(
    fulfillment: FakeFulfillment,
) -> None:
    orders = [await place(fulfillment, {"PEANUT": 1}) for _ in range(5)]
    fulfillment.clock.advance(TTL)

    assert (
        await expire_reservations(
            fulfillment.transactions, expired_by=fulfillment.clock.now(), batch_size=2
        )
        == 5
    )

    released = fulfillment.emitted.of_type(ReservationReleased)
    assert sorted(e.order_id for e in released) == sorted(orders)
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 0)
    assert (
        await expire_reservations(fulfillment.transactions, expired_by=fulfillment.clock.now()) == 0
    )


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
        assert (
            await expire_reservations(
                fulfillment.transactions, expired_by=fulfillment.clock.now(), batch_size=2
            )
            == 4
        )

    released = fulfillment.emitted.of_type(ReservationReleased)
    assert sorted(e.order_id for e in released) == sorted(others)
    assert fulfillment.orders.status(poisoned) is OrderStatus.RESERVED, "left as it was"
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 1), "its unit still held"
    [skipped] = [e for e in logs if e["event"] == "periodic_job.item_skipped"]
    assert (skipped["item"], skipped["log_level"]) == (str(poisoned), "error")
    assert "exc_info" in skipped

    with structlog.testing.capture_logs() as logs:
        assert (
            await expire_reservations(
                fulfillment.transactions, expired_by=fulfillment.clock.now(), batch_size=2
            )
            == 0
        )
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
        await expire_reservations(fulfillment.transactions, expired_by=fulfillment.clock.now())

    assert fulfillment.emitted.of_type(ReservationReleased) == []
    assert [fulfillment.orders.status(o) for o in (first, second)] == [OrderStatus.RESERVED] * 2
    assert fulfillment.stock.level("EU", "PEANUT") == (10, 2)


class FakePaymentReads:
    """Read marks on one stand-in partition of the payments topic: ``published`` records are
    on it; the consumer applied them up to what ``InMemoryOrders.positions`` holds."""

    consumer = "fulfillment.events"
    partition = "payments/0"

    def __init__(self, orders: InMemoryOrders) -> None:
        self.orders = orders
        self.published = 0
        self.unavailable = False

    async def take(self) -> dict[str, int]:
        if self.unavailable:
            raise ConnectionError("Kafka is away")
        return {self.partition: self.published}

    def applied_up_to(self, offset: int) -> None:
        self.orders.positions.setdefault(self.consumer, {})[self.partition] = offset


async def test_an_expired_reservation_waits_while_a_payment_published_before_is_unread(
    fulfillment: FakeFulfillment,
) -> None:
    # Fulfillment down for longer than a reservation (or behind a backlog): at restart the
    # job released every paid order whose PaymentCaptured was published but not read yet;
    # the cart cancelled them, payment refunded, nothing shipped.
    reads = FakePaymentReads(fulfillment.orders)
    job = ReservationExpiry(reads)
    paid = await place(fulfillment, {"PEANUT": 2})
    fulfillment.clock.advance(TTL)
    reads.published = 1  # its PaymentCaptured, not applied yet

    assert await job(fulfillment.transactions) == 0  # marks taken
    fulfillment.clock.advance(timedelta(seconds=5))
    assert await job(fulfillment.transactions) == 0  # the consumer has not reached them
    await capture(fulfillment, paid)
    reads.applied_up_to(1)
    fulfillment.clock.advance(timedelta(seconds=5))
    assert await job(fulfillment.transactions) == 0  # reached: nothing left to release

    assert fulfillment.emitted.of_type(ReservationReleased) == []
    assert fulfillment.orders.status(paid) is OrderStatus.FULFILLING


async def test_an_expired_reservation_is_released_once_everything_before_it_was_read(
    fulfillment: FakeFulfillment,
) -> None:
    reads = FakePaymentReads(fulfillment.orders)
    job = ReservationExpiry(reads)
    unpaid = await place(fulfillment, {"PEANUT": 2})
    fulfillment.clock.advance(TTL)
    later = await place(fulfillment, {"PEANUT": 1})

    assert await job(fulfillment.transactions) == 0, "the first round only takes marks"
    fulfillment.clock.advance(TTL)  # the later one expires too, after the marks were taken
    assert await job(fulfillment.transactions) == 1

    [released] = fulfillment.emitted.of_type(ReservationReleased)
    assert (released.order_id, released.reason) == (unpaid, "expired")
    assert fulfillment.orders.status(later) is OrderStatus.RESERVED
    assert await job(fulfillment.transactions) == 1, "the next round: marks taken after it"


async def test_no_expiry_while_kafka_cannot_give_marks(fulfillment: FakeFulfillment) -> None:
    reads = FakePaymentReads(fulfillment.orders)
    job = ReservationExpiry(reads)
    await place(fulfillment, {"PEANUT": 2})
    fulfillment.clock.advance(TTL)
    assert await job(fulfillment.transactions) == 0
    reads.unavailable = True

    with pytest.raises(ConnectionError):
        await job(fulfillment.transactions)

    assert fulfillment.emitted.of_type(ReservationReleased) == []

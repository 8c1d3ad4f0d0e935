"""What a batch locks up front: each event's order, and the stock its handler will move."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from orderflow_fulfillment.handlers.lock_ahead import lock_batch

from services.fulfillment.tests.builders import (
    order_cancelled,
    order_placed,
    parcel_delivered,
    parcel_dispatched,
    payment_captured,
    payment_declined,
    replacement_requested,
    return_authorized,
    return_parcel,
    stock_counted,
)
from services.fulfillment.tests.fakes import FakeFulfillment


async def test_a_batch_asks_for_its_orders_and_the_stock_each_event_may_move() -> None:
    fulfillment = FakeFulfillment()
    placed, captured, cancelled, declined = (uuid.uuid4() for _ in range(4))
    returned, replaced = uuid.uuid4(), uuid.uuid4()
    dispatched, delivered, rma = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [
        order_placed(placed, {"SKU-B": 1, "SKU-A": 2}, "DE"),
        payment_captured(captured),
        order_cancelled(cancelled),
        payment_declined(declined),
        parcel_dispatched(dispatched, "EU"),
        parcel_delivered(delivered),
        return_authorized(returned, rma, {"SKU-X": 1}),  # moves no stock
        return_parcel(rma, "EU", [("SKU-C", 1, "resellable")]),
        stock_counted("EU", "SKU-D", 5, datetime(2025, 3, 1, tzinfo=UTC)),
        replacement_requested(replaced, "claim-1", {"SKU-E": 1}),
    ]

    await lock_batch(events, fulfillment.unit(events[0]))

    assert fulfillment.locks.calls == [
        {
            "orders": sorted([placed, captured, cancelled, declined, returned, replaced]),
            "releasing": sorted([cancelled, declined]),
            "shipments": sorted([dispatched, delivered]),
            "rmas": [rma],
            "skus": ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"],
        }
    ]
    assert fulfillment.locks.shipments_read == [True]


async def test_shipments_are_read_ahead_only_for_a_batch_whose_handlers_read_them() -> None:
    reading = [payment_captured(uuid.uuid4()), parcel_dispatched(uuid.uuid4(), "EU")]
    reading += [parcel_delivered(uuid.uuid4()), order_cancelled(uuid.uuid4())]
    reading += [payment_declined(uuid.uuid4())]
    reading += [replacement_requested(uuid.uuid4(), "claim-2", {"SKU-E": 1})]
    not_reading = [
        order_placed(uuid.uuid4(), {"SKU-A": 1}, "DE"),
        stock_counted("EU", "SKU-D", 5, datetime(2025, 3, 1, tzinfo=UTC)),
    ]
    for batch, expected in [*[([e], True) for e in reading], (not_reading, False)]:
        fulfillment = FakeFulfillment()
        await lock_batch(batch, fulfillment.unit(batch[0]))
        assert fulfillment.locks.shipments_read == [expected], batch

"""What a batch locks up front: each event's order, shipment or RMA, and the SKUs it names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from orderflow_fulfillment.handlers.lock_ahead import lock_batch

from services.fulfillment.tests.builders import (
    order_placed,
    parcel_dispatched,
    payment_captured,
    replacement_requested,
    return_parcel,
    stock_counted,
)
from services.fulfillment.tests.fakes import FakeFulfillment


async def test_a_batch_asks_for_every_order_shipment_rma_and_sku_its_events_name() -> None:
    fulfillment = FakeFulfillment()
    placed, captured, replaced = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    shipment, rma = uuid.uuid4(), uuid.uuid4()
    events = [
        order_placed(placed, {"SKU-B": 1, "SKU-A": 2}, "DE"),
        payment_captured(captured),
        parcel_dispatched(shipment, "EU"),
        return_parcel(rma, "EU", [("SKU-C", 1, "resellable")]),
        stock_counted("EU", "SKU-D", 5, datetime(2025, 3, 1, tzinfo=UTC)),
        replacement_requested(replaced, "claim-1", {"SKU-E": 1}),
    ]

    await lock_batch(events, fulfillment.unit(events[0]))

    assert fulfillment.locks.calls == [
        {
            "order_ids": sorted([placed, captured, replaced]),
            "shipment_ids": [shipment],
            "rma_ids": [rma],
            "skus": ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"],
        }
    ]

"""What a batch of events will lock: its orders and the stock it will move, taken up front.

Several instances apply batches of up to a few hundred records each in one transaction. Were
each stock row locked when its record came up, two batches touching SKU1 then SKU2 and SKU2
then SKU1 would deadlock (PostgreSQL aborts one; its whole batch is retried). Locking every row
the batch will touch first, in one global order (orders, then stock by warehouse and SKU), makes
them queue instead. The jobs that take orders and stock in one transaction lock the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    Event,
    OrderCancelled,
    OrderPlaced,
    ParcelDelivered,
    ParcelDispatched,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    ReplacementRequested,
    ReturnParcelReceived,
    StockCounted,
)

from orderflow_fulfillment.ports import FulfillmentRepositories

RELEASING = (OrderCancelled, PaymentDeclined, PaymentVoided)
"""Events that give an order's held stock back."""

READING_SHIPMENTS = (
    *RELEASING,
    PaymentCaptured,
    ParcelDispatched,
    ParcelDelivered,
    ReplacementRequested,
)
"""Events whose handlers read their order's shipments: a batch with one of them reads the
shipments of every order it locks in one statement, instead of one or two per event."""


async def lock_batch(events: Sequence[Event], uow: UnitOfWork[FulfillmentRepositories]) -> None:
    """The consumer's ``lock_ahead``: every lock the handlers of ``events`` will take."""
    orders: set[uuid.UUID] = set()
    releasing: set[uuid.UUID] = set()
    shipments: set[uuid.UUID] = set()
    rmas: set[uuid.UUID] = set()
    skus: set[str] = set()
    for event in events:
        order_id = getattr(event, "order_id", None)
        if isinstance(order_id, uuid.UUID):
            orders.add(order_id)
        if isinstance(event, (OrderPlaced, ReplacementRequested)):
            skus.update(line.sku for line in event.lines)
        elif isinstance(event, RELEASING):
            releasing.add(event.order_id)
        elif isinstance(event, (ParcelDispatched, ParcelDelivered)):
            shipments.add(event.shipment_id)
        elif isinstance(event, ReturnParcelReceived):
            rmas.add(event.rma_id)
            skus.update(line.sku for line in event.lines)
        elif isinstance(event, StockCounted):
            skus.add(event.sku)
    await uow.repos.locks.lock_ahead(
        orders=orders,
        releasing=releasing,
        shipments=shipments,
        rmas=rmas,
        skus=skus,
        read_shipments=any(isinstance(event, READING_SHIPMENTS) for event in events),
    )

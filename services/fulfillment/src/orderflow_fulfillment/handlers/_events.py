"""The event being applied, and the events fulfillment builds from its records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    FulfillmentRequested,
    ShipmentLine,
    StockAllocation,
    StockUnavailable,
)
from orderflow_contracts.events import ShortLine as ShortLineEvent

from orderflow_fulfillment.domain.allocation import Allocation, Shortage
from orderflow_fulfillment.ports import FulfillmentRepositories, ShipmentRecord


def applied_envelope(uow: UnitOfWork[FulfillmentRepositories]) -> Envelope:
    """The envelope an event handler is applying (the consumer always sets it)."""
    if uow.cause is None:
        raise RuntimeError("an event handler ran without the envelope it applies")
    return uow.cause


def allocations_of(shipments: Sequence[ShipmentRecord]) -> list[Allocation]:
    return [a for shipment in shipments for a in shipment.allocations()]


def stock_allocations(allocations: Sequence[Allocation]) -> list[StockAllocation]:
    return [
        StockAllocation(warehouse_id=a.warehouse_id, sku=a.sku, quantity=a.quantity)
        for a in allocations
    ]


def fulfillment_request(shipment: ShipmentRecord) -> FulfillmentRequested:
    return FulfillmentRequested(
        order_id=shipment.order_id,
        shipment_id=shipment.shipment_id,
        warehouse_id=shipment.warehouse_id,
        lines=[
            ShipmentLine(sku=ln.sku, name=ln.name, quantity=ln.quantity) for ln in shipment.lines
        ],
        ship_to=shipment.ship_to,
        shipping_service=shipment.shipping_service,
        replacement=shipment.replacement,
        warranty_claim_id=shipment.claim_id,
    )


def stock_unavailable(order_id: uuid.UUID, shortage: Shortage) -> StockUnavailable:
    return StockUnavailable(
        order_id=order_id,
        short_lines=[
            ShortLineEvent(sku=s.sku, requested=s.requested, available=s.available)
            for s in shortage.short_lines
        ],
    )

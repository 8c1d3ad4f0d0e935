"""Holding stock for a plan, and the shipments that carry it (orders and replacements)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from orderflow_chassis.errors import TransientError
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import PostalAddress
from orderflow_contracts.uuids import uuid7

from orderflow_fulfillment.domain.allocation import (
    AllocationPlan,
    Line,
    Shortage,
    merge_lines,
    plan_allocation,
)
from orderflow_fulfillment.domain.shipments import ShipmentStatus
from orderflow_fulfillment.ports import FulfillmentRepositories, NamedLine, Stock

RESERVATION_ATTEMPTS = 5
"""Plans re-made when concurrent reservations took the stock a plan counted on."""


async def reserve_lines(
    stock: Stock, lines: Sequence[Line], ship_to_country: str
) -> AllocationPlan | Shortage:
    """Plan from current availability and reserve it; re-plan when a concurrent reservation
    got there first. All of the plan is reserved, or nothing.

    Re-planning is immediate, not a backoff: the figures that changed are committed already,
    and a pause here would hold the order's row lock for nothing. After the last attempt the
    consumer retries the whole batch (a transient error)."""
    wanted = merge_lines(lines)
    for _ in range(RESERVATION_ATTEMPTS):
        availability = await stock.availability(line.sku for line in wanted)
        warehouses = await stock.warehouses()  # after: every one the figures name
        outcome = plan_allocation(wanted, warehouses, availability, ship_to_country)
        if isinstance(outcome, Shortage):
            return outcome
        if await stock.try_reserve(outcome.allocations()):
            return outcome
    raise TransientError("stock kept changing under the reservation; retrying the batch")


async def create_shipments(
    uow: UnitOfWork[FulfillmentRepositories],
    order_id: uuid.UUID,
    plan: AllocationPlan,
    names: dict[str, str],
    *,
    ship_to: PostalAddress,
    shipping_service: str,
    status: ShipmentStatus,
    claim_id: str | None = None,
    requested_at: datetime | None = None,
) -> list[uuid.UUID]:
    """One shipment per warehouse of ``plan``; a ``claim_id`` makes them replacements."""
    shipment_ids = []
    for planned in plan.shipments:
        shipment_id = uuid7()
        await uow.repos.shipments.insert_shipment(
            shipment_id,
            order_id=order_id,
            warehouse_id=planned.warehouse_id,
            status=status,
            lines=[
                NamedLine(ln.sku, names.get(ln.sku, ln.sku), ln.quantity) for ln in planned.lines
            ],
            ship_to=ship_to,
            shipping_service=shipping_service,
            replacement=claim_id is not None,
            claim_id=claim_id,
            requested_at=requested_at,
        )
        shipment_ids.append(shipment_id)
    return shipment_ids

"""What ops read (HTTP and the command line): stock levels, an order's shipments, anomalies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from orderflow_chassis.unit_of_work import UnitOfWork

from orderflow_fulfillment.ports import (
    FulfillmentRepositories,
    OrderRecord,
    ShipmentRecord,
    StockLevel,
)


@dataclass(frozen=True)
class OrderFulfillment:
    order: OrderRecord
    shipments: list[ShipmentRecord]


async def stock_levels(
    sku: str | None, warehouse_id: str | None, uow: UnitOfWork[FulfillmentRepositories]
) -> list[StockLevel]:
    """On-hand, reserved and available units per warehouse and SKU (optionally only one)."""
    return await uow.repos.stock.levels(sku=sku, warehouse_id=warehouse_id)


async def order_fulfillment(
    order_id: uuid.UUID, uow: UnitOfWork[FulfillmentRepositories]
) -> OrderFulfillment | None:
    """An order's fulfillment status and its shipments; None for an order never seen."""
    order = await uow.repos.orders.lock_order(order_id, lock=False)
    if order is None:
        return None
    return OrderFulfillment(order, await uow.repos.shipments.shipments_of(order_id))


async def recorded_anomalies(
    reason: str | None, limit: int, uow: UnitOfWork[FulfillmentRepositories]
) -> list[dict[str, Any]]:
    """Events that did not fit, newest first (optionally of one reason)."""
    return await uow.repos.anomalies.newest(reason=reason, limit=limit)

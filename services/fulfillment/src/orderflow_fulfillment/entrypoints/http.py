"""Read-only HTTP views for ops: stock levels, an order's shipments, anomalies."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from orderflow_chassis.runtime import RuntimeResources

from orderflow_fulfillment.adapters.order_repository import OrderRepository
from orderflow_fulfillment.adapters.stock_repository import StockRepository

router = APIRouter(tags=["fulfillment"])


def _resources(request: Request) -> RuntimeResources:
    resources: RuntimeResources = request.app.state.resources
    return resources


@router.get("/stock")
async def stock_levels(
    request: Request,
    sku: Annotated[str | None, Query(description="Only this SKU")] = None,
    warehouse: Annotated[str | None, Query(description="Only this warehouse")] = None,
) -> list[dict[str, Any]]:
    """On-hand, reserved and available units per warehouse and SKU."""
    resources = _resources(request)
    async with resources.pool.acquire() as connection:
        levels = await StockRepository(connection, resources.settings.db_schema).levels(
            sku=sku, warehouse_id=warehouse
        )
    return [
        {
            "warehouse_id": level.warehouse_id,
            "sku": level.sku,
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "available": level.available,
            "counted_at": level.counted_at,
        }
        for level in levels
    ]


@router.get("/orders/{order_id}")
async def order_fulfillment(request: Request, order_id: uuid.UUID) -> dict[str, Any]:
    """An order's fulfillment status and its shipments (with carrier and tracking)."""
    resources = _resources(request)
    schema = resources.settings.db_schema
    async with resources.pool.acquire() as connection, connection.transaction(readonly=True):
        orders = OrderRepository(connection, schema)
        order = await orders.lock_order(order_id, lock=False)
        if order is None:
            raise HTTPException(404, f"fulfillment knows no order {order_id}")
        shipments = await orders.shipments_of(order_id)
    return {
        "order_id": str(order.order_id),
        "status": order.status.value,
        "expires_at": order.expires_at,
        "release_reason": order.release_reason,
        "shipments": [
            {
                "shipment_id": str(s.shipment_id),
                "warehouse_id": s.warehouse_id,
                "status": s.status.value,
                "replacement": s.replacement,
                "claim_id": s.claim_id,
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "dispatched_at": s.dispatched_at,
                "delivered_at": s.delivered_at,
                "lines": [
                    {"sku": ln.sku, "name": ln.name, "quantity": ln.quantity} for ln in s.lines
                ],
            }
            for s in shipments
        ],
    }


@router.get("/anomalies")
async def anomalies(
    request: Request,
    reason: Annotated[str | None, Query(description="Only this reason code")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Events that did not fit (unknown shipments, out-of-order reports...), newest first."""
    resources = _resources(request)
    async with resources.pool.acquire() as connection:
        return await OrderRepository(connection, resources.settings.db_schema).anomalies(
            reason=reason, limit=limit
        )

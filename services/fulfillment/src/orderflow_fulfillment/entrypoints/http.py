"""Read-only HTTP views for ops: stock levels, an order's shipments, anomalies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from orderflow_chassis.service_definition import RuntimeResources
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.primitives import IDENTIFIER_PATTERN, SKU_PATTERN

from orderflow_fulfillment.domain.shipments import AnomalyReason
from orderflow_fulfillment.handlers.queries import OrderFulfillment
from orderflow_fulfillment.ports import FulfillmentRepositories, StockLevel

Unit = UnitOfWork[FulfillmentRepositories]
StockLevels = Callable[[str | None, str | None, Unit], Awaitable[list[StockLevel]]]
OrderView = Callable[[uuid.UUID, Unit], Awaitable[OrderFulfillment | None]]
Anomalies = Callable[[str | None, int, Unit], Awaitable[list[dict[str, Any]]]]


def _resources(request: Request) -> RuntimeResources:
    resources: RuntimeResources = request.app.state.resources
    return resources


def fulfillment_router(
    *, stock_levels_query: StockLevels, order_query: OrderView, anomalies_query: Anomalies
) -> APIRouter:
    """The routes, on the query use cases bound in ``bootstrap`` (the route functions keep
    their names: they are the OpenAPI operation ids)."""
    router = APIRouter(tags=["fulfillment"])

    @router.get("/stock")
    async def stock_levels(
        request: Request,
        sku: Annotated[str | None, Query(description="Only this SKU")] = None,
        warehouse: Annotated[str | None, Query(description="Only this warehouse")] = None,
    ) -> list[dict[str, Any]]:
        """On-hand, reserved and available units per warehouse and SKU."""
        # A filter no SKU or warehouse id can match answered 200 [], as if nothing were in
        # stock: it is refused, so "none" and "a bad query" differ. Empty means no filter.
        sku = _matching(sku, "sku", SKU_PATTERN, "a SKU (upper case, e.g. SKU-42)")
        warehouse = _matching(warehouse, "warehouse", IDENTIFIER_PATTERN, "a warehouse id")
        async with _resources(request).transactions.begin(read_only=True) as uow:
            levels = await stock_levels_query(sku, warehouse, uow)
        return [
            {
                "warehouse_id": level.warehouse_id,
                "sku": level.sku,
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "available": level.available,
                "unfound": level.unfound,
                "counted_at": level.counted_at,
                "loaded_at": level.loaded_at,
            }
            for level in levels
        ]

    @router.get("/orders/{order_id}")
    async def order_fulfillment(request: Request, order_id: uuid.UUID) -> dict[str, Any]:
        """An order's fulfillment status and its shipments (with carrier and tracking)."""
        async with _resources(request).transactions.begin(read_only=True) as uow:
            found = await order_query(order_id, uow)
        if found is None:
            raise HTTPException(404, f"fulfillment knows no order {order_id}")
        return {
            "order_id": str(found.order.order_id),
            "status": found.order.status.value,
            "expires_at": found.order.expires_at,
            "release_reason": found.order.release_reason,
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
                for s in found.shipments
            ],
        }

    @router.get("/anomalies")
    async def anomalies(
        request: Request,
        reason: Annotated[str | None, Query(description="Only this reason code")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Events that did not fit (unknown shipments, out-of-order reports...), newest first."""
        reason = reason or None
        if reason is not None and reason not in _REASONS:
            raise HTTPException(
                422, f"reason is not an anomaly reason; one of {', '.join(sorted(_REASONS))}"
            )
        async with _resources(request).transactions.begin(read_only=True) as uow:
            return await anomalies_query(reason, limit, uow)

    return router


_REASONS = frozenset(reason.value for reason in AnomalyReason)


def _matching(value: str | None, name: str, pattern: str, what: str) -> str | None:
    if not value:
        return None
    if len(value) > 128 or not re.fullmatch(pattern, value):
        raise HTTPException(422, f"{name} is not {what}")
    return value

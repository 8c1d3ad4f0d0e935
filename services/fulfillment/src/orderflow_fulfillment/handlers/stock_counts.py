"""StockCounted: a warehouse's physical count replaces our on-hand figure (see
``domain.stock`` for how counts and movements that cross each other are reconciled)."""

from __future__ import annotations

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import StockCounted

from orderflow_fulfillment.domain.shipments import AnomalyReason
from orderflow_fulfillment.domain.stock import CountVerdict
from orderflow_fulfillment.handlers._anomalies import (
    record_anomaly,
    record_clock_ahead,
    require_warehouse,
    too_far_ahead,
)
from orderflow_fulfillment.handlers._events import applied_envelope
from orderflow_fulfillment.handlers.replacements import retry_replacements_first
from orderflow_fulfillment.ports import FulfillmentRepositories


async def apply_stock_count(event: StockCounted, uow: UnitOfWork[FulfillmentRepositories]) -> None:
    """Set on-hand from the count; never below reserved, never from a stale or unknown one."""
    await require_warehouse(uow, event.warehouse_id)
    if too_far_ahead(uow, event.counted_at):
        # Not applied: taken as made now, it would look newer than movements made after it
        # (and a repeat of it newer still); the warehouse's next good count sets on-hand.
        await record_clock_ahead(
            uow, "counted_at", event.counted_at, warehouse_id=event.warehouse_id, sku=event.sku
        )
        return
    outcome = await uow.repos.stock.apply_count(
        event.warehouse_id,
        event.sku,
        event.on_hand,
        counted_at=event.counted_at,
        reference=str(applied_envelope(uow).event_id),
    )
    if outcome.verdict is CountVerdict.APPLIED:
        await retry_replacements_first(uow, [event.sku])
    elif outcome.verdict is CountVerdict.BELOW_RESERVED:
        await record_anomaly(
            uow,
            AnomalyReason.COUNT_BELOW_RESERVED,
            warehouse_id=event.warehouse_id,
            sku=event.sku,
            detail={
                "counted": event.on_hand,
                "on_hand_set": outcome.on_hand,
                "missing_reserved_units": outcome.shortfall,
            },
        )
    elif outcome.verdict is CountVerdict.UNKNOWN_SKU:
        await record_anomaly(
            uow,
            AnomalyReason.UNKNOWN_SKU,
            warehouse_id=event.warehouse_id,
            sku=event.sku,
            detail={"counted": event.on_hand, "counted_at": event.counted_at.isoformat()},
        )
    elif outcome.verdict is CountVerdict.STALE:
        await record_anomaly(
            uow,
            AnomalyReason.STALE_COUNT,
            warehouse_id=event.warehouse_id,
            sku=event.sku,
            detail={
                "counted": event.on_hand,
                "counted_at": event.counted_at.isoformat(),
                "superseded_at": outcome.superseded_at and outcome.superseded_at.isoformat(),
            },
        )

"""Warranty replacements: shipped again at no charge, without waiting for a payment. Without
stock a replacement waits (backorder) and a periodic job tries it again."""

from __future__ import annotations

import structlog
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork
from orderflow_contracts.events import ReplacementRequested

from orderflow_fulfillment.domain.allocation import Line, Shortage
from orderflow_fulfillment.domain.shipments import AnomalyReason, ShipmentStatus
from orderflow_fulfillment.handlers._anomalies import record_anomaly
from orderflow_fulfillment.handlers._events import applied_envelope, fulfillment_request
from orderflow_fulfillment.handlers._reserving import create_shipments, reserve_lines
from orderflow_fulfillment.ports import FulfillmentRepositories, ReplacementRecord
from orderflow_fulfillment.settings import FulfillmentSettings

log = structlog.get_logger(__name__)

BATCH = 100


async def ship_replacement(
    event: ReplacementRequested,
    uow: UnitOfWork[FulfillmentRepositories],
    *,
    settings: FulfillmentSettings,
) -> None:
    """ReplacementRequested: reserve and request it now, or leave it waiting for stock."""
    correlation_id = applied_envelope(uow).correlation_id
    lines = tuple(Line(ln.sku, ln.quantity) for ln in event.lines)
    created = await uow.repos.replacements.insert_replacement(
        event.order_id,
        event.claim_id,
        lines=lines,
        ship_to=event.ship_to,
        correlation_id=correlation_id,
    )
    if not created:
        return  # this claim's replacement is known already
    replacement = ReplacementRecord(
        event.order_id, event.claim_id, lines, event.ship_to, correlation_id, attempts=0
    )
    await _try_replacement(uow, replacement, settings.replacement_shipping_service)


async def retry_backordered_replacements(
    transactions: Transactions[FulfillmentRepositories],
    *,
    settings: FulfillmentSettings,
    batch_size: int = BATCH,
) -> int:
    """Try again to reserve replacements that found no stock (restocks and counts add some)."""
    shipped = 0
    async with transactions.begin() as uow:
        backordered = await uow.repos.replacements.backordered_replacements(batch_size)
        # Their stock in the consumers' lock order (handlers/lock_ahead.py).
        await uow.repos.locks.lock_ahead(
            orders=[r.order_id for r in backordered],
            skus=[line.sku for r in backordered for line in r.lines],
        )
        for replacement in backordered:
            if await _try_replacement(uow, replacement, settings.replacement_shipping_service):
                shipped += 1
    if shipped:
        log.info("fulfillment.backordered_replacements_requested", count=shipped)
    return shipped


async def _try_replacement(
    uow: UnitOfWork[FulfillmentRepositories],
    replacement: ReplacementRecord,
    shipping_service: str,
) -> bool:
    """Reserve and request a replacement; True once requested. Its first shortage is
    recorded (``replacement_backordered``), the retries' are not."""
    replacements = uow.repos.replacements
    outcome = await reserve_lines(uow.repos.stock, replacement.lines, replacement.ship_to.country)
    if isinstance(outcome, Shortage):
        await replacements.replacement_attempted(
            replacement.order_id, replacement.claim_id, requested_at=None
        )
        if replacement.attempts == 0:
            await record_anomaly(
                uow,
                AnomalyReason.REPLACEMENT_BACKORDERED,
                order_id=replacement.order_id,
                detail={
                    "claim_id": replacement.claim_id,
                    "short_lines": [
                        {"sku": s.sku, "requested": s.requested, "available": s.available}
                        for s in outcome.short_lines
                    ],
                },
            )
        return False
    names = await uow.repos.orders.line_names(replacement.order_id)
    shipment_ids = await create_shipments(
        uow,
        replacement.order_id,
        outcome,
        names,
        ship_to=replacement.ship_to,
        shipping_service=shipping_service,
        status=ShipmentStatus.REQUESTED,
        claim_id=replacement.claim_id,
        requested_at=uow.now,
    )
    await replacements.replacement_attempted(
        replacement.order_id, replacement.claim_id, requested_at=uow.now
    )
    for shipment in await uow.repos.shipments.shipments_of(replacement.order_id):
        if shipment.shipment_id in shipment_ids:
            await uow.emit(fulfillment_request(shipment), correlation_id=replacement.correlation_id)
    return True

"""Warranty replacements: shipped again at no charge, without waiting for a payment. Without
stock a replacement waits (backorder) and a periodic job tries it again."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

import structlog
from orderflow_chassis.periodic import in_batches
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
# A round's bound: 1,000 tries every 30 s by default; more waiting take turns across rounds.
MAX_BATCHES = 10

Unit = UnitOfWork[FulfillmentRepositories]


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
    max_batches: int = MAX_BATCHES,
) -> int:
    """Try again to reserve replacements that found no stock: each one once a round, least
    recently tried first (those whose SKUs got stock since come first), so replacements of a
    SKU that never comes back cannot hold back the others."""
    started: datetime | None = None

    async def backordered(
        uow: Unit, limit: int, skipping: Sequence[ReplacementRecord]
    ) -> list[ReplacementRecord]:
        nonlocal started
        started = started or uow.now  # those tried since, in this round, are done
        return await uow.repos.replacements.backordered_replacements(
            limit, tried_before=started, skipping=[_key(r) for r in skipping]
        )

    async def retry(uow: Unit, backordered: Sequence[ReplacementRecord]) -> int:
        # Their stock in the consumers' lock order (handlers/lock_ahead.py).
        await uow.repos.locks.lock_ahead(
            orders=[r.order_id for r in backordered],
            skus=[line.sku for r in backordered for line in r.lines],
        )
        shipping_service = settings.replacement_shipping_service
        return sum([await _try_replacement(uow, r, shipping_service) for r in backordered])

    shipped = await in_batches(
        transactions,
        due=backordered,
        work=retry,
        batch_size=batch_size,
        max_batches=max_batches,
        name_of=lambda r: "/".join(map(str, _key(r))),
    )
    if shipped:
        log.info("fulfillment.backordered_replacements_requested", count=shipped)
    return shipped


async def retry_replacements_first(uow: Unit, skus: Collection[str]) -> None:
    """Stock of ``skus`` came (restock, count, load): their waiting replacements are tried
    first at the job's next round. Not here: they may need stock and orders this
    transaction did not lock ahead."""
    if skus:
        await uow.repos.replacements.retry_first(skus)


def _key(replacement: ReplacementRecord) -> tuple[uuid.UUID, str]:
    return replacement.order_id, replacement.claim_id


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
            replacement.order_id, replacement.claim_id, attempted_at=uow.now, requested_at=None
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
        replacement.order_id, replacement.claim_id, attempted_at=uow.now, requested_at=uow.now
    )
    for shipment in await uow.repos.shipments.shipments_of(replacement.order_id):
        if shipment.shipment_id in shipment_ids:
            await uow.emit(fulfillment_request(shipment), correlation_id=replacement.correlation_id)
    return True

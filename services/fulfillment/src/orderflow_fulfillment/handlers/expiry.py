"""Background work: reservations that waited too long, replacements waiting for stock.

Each round works in small transactions of its own and emits through the outbox, so a crash
mid-round loses nothing and two instances share the work (rows are claimed with
``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import structlog
from orderflow_chassis.runtime import RuntimeResources
from orderflow_contracts.events import ReservationReleaseReason

from orderflow_fulfillment.handlers import FulfillmentHandlers

log = structlog.get_logger(__name__)

BATCH = 100


async def expire_reservations(resources: RuntimeResources, handlers: FulfillmentHandlers) -> int:
    """Release every reservation past its expiry (ReservationReleased, reason 'expired')."""
    released = 0
    while True:
        async with resources.pool.acquire() as connection, connection.transaction():
            unit = handlers.background_unit(connection, resources.outbox)
            expired = await unit.orders.expired_reservations(handlers.clock.now(), BATCH)
            for order_id in expired:
                if await handlers.release(unit, order_id, ReservationReleaseReason.EXPIRED):
                    released += 1
        if len(expired) < BATCH:
            break
    if released:
        log.info("fulfillment.reservations_expired", count=released)
    return released


async def retry_backordered_replacements(
    resources: RuntimeResources, handlers: FulfillmentHandlers
) -> int:
    """Try again to reserve replacements that found no stock (restocks and counts add some)."""
    shipped = 0
    async with resources.pool.acquire() as connection, connection.transaction():
        unit = handlers.background_unit(connection, resources.outbox)
        for replacement in await unit.orders.backordered_replacements(BATCH):
            if await handlers.try_replacement(unit, replacement):
                shipped += 1
    if shipped:
        log.info("fulfillment.backordered_replacements_requested", count=shipped)
    return shipped

"""Reservations that waited too long for a payment outcome: released by a periodic job.

Each batch is one transaction that emits through the outbox, so a crash mid-round loses
nothing, and two instances share the work (rows are claimed with ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import structlog
from orderflow_chassis.unit_of_work import Transactions
from orderflow_contracts.events import ReservationReleaseReason

from orderflow_fulfillment.handlers.reservations import release_reservation
from orderflow_fulfillment.ports import FulfillmentRepositories

log = structlog.get_logger(__name__)

BATCH = 100


async def expire_reservations(
    transactions: Transactions[FulfillmentRepositories], *, batch_size: int = BATCH
) -> int:
    """Release every reservation past its expiry (ReservationReleased, reason 'expired')."""
    released = 0
    while True:
        async with transactions.begin() as uow:
            expired = await uow.repos.orders.expired_reservations(uow.now, batch_size)
            # Their stock in the consumers' lock order (handlers/lock_ahead.py).
            await uow.repos.locks.lock_ahead(releasing=expired)
            for order_id in expired:
                if await release_reservation(uow, order_id, ReservationReleaseReason.EXPIRED):
                    released += 1
        if len(expired) < batch_size:
            break
    if released:
        log.info("fulfillment.reservations_expired", count=released)
    return released

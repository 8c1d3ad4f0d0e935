"""Reservations that waited too long for a payment outcome: released by a periodic job.

Each batch is one transaction that emits through the outbox, so a crash mid-round loses
nothing, and two instances share the work (rows are claimed with ``FOR UPDATE SKIP LOCKED``).
An order whose release keeps failing is set aside for the round, untouched, and the others
are released (``in_batches``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from orderflow_chassis.periodic import in_batches
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork
from orderflow_contracts.events import ReservationReleaseReason

from orderflow_fulfillment.handlers.reservations import release_reservation
from orderflow_fulfillment.ports import FulfillmentRepositories

log = structlog.get_logger(__name__)

BATCH = 100

Unit = UnitOfWork[FulfillmentRepositories]


async def expire_reservations(
    transactions: Transactions[FulfillmentRepositories], *, batch_size: int = BATCH
) -> int:
    """Release every reservation past its expiry (ReservationReleased, reason 'expired')."""

    async def expired(uow: Unit, limit: int, skipping: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        return await uow.repos.orders.expired_reservations(uow.now, limit, skipping=skipping)

    async def release(uow: Unit, order_ids: Sequence[uuid.UUID]) -> int:
        # Their stock in the consumers' lock order (handlers/lock_ahead.py).
        await uow.repos.locks.lock_ahead(releasing=order_ids)
        reason = ReservationReleaseReason.EXPIRED
        return sum([await release_reservation(uow, order_id, reason) for order_id in order_ids])

    released = await in_batches(transactions, due=expired, work=release, batch_size=batch_size)
    if released:
        log.info("fulfillment.reservations_expired", count=released)
    return released

"""Reservations that waited too long for a payment outcome: released by a periodic job.

Each batch is one transaction that emits through the outbox, so a crash mid-round loses
nothing, and two instances share the work (rows are claimed with ``FOR UPDATE SKIP LOCKED``).
An order whose release keeps failing is set aside for the round, untouched, and the others
are released (``in_batches``).

The clock alone cannot tell "no payment came" from "it is not read yet": after an outage or
behind a backlog, a consumer late by more than a reservation's time released paid orders
whose capture was already published (the cart cancelled them, payment refunded). So each
round takes read marks on the topics payment outcomes and cancellations come on
(``orderflow_chassis.read_marks``), and a later round releases what had expired when they
were taken, once the consumer's stored positions reached them. A reservation is released at
the second round after it expired at the earliest; a consumer behind holds every expiry back
until it caught up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from orderflow_chassis.periodic import in_batches
from orderflow_chassis.read_marks import Marks, marks_reached
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork
from orderflow_contracts.events import ReservationReleaseReason

from orderflow_fulfillment.handlers.reservations import release_reservation
from orderflow_fulfillment.ports import FulfillmentRepositories, PaymentReads

log = structlog.get_logger(__name__)

BATCH = 100

Unit = UnitOfWork[FulfillmentRepositories]


@dataclass(frozen=True)
class _Taken:
    at: datetime  # before the marks were taken: what was published before it is below them
    marks: Marks


class ReservationExpiry:
    """The periodic job (one per instance): its marks live from one round to the next. A
    restarted instance takes new ones, so its first round releases nothing."""

    def __init__(self, reads: PaymentReads, *, batch_size: int = BATCH) -> None:
        self._reads = reads
        self._batch_size = batch_size
        self._taken: _Taken | None = None

    async def __call__(self, transactions: Transactions[FulfillmentRepositories]) -> int:
        async with transactions.begin(read_only=True) as uow:
            now = uow.now
        marks = await self._reads.take()  # Kafka away: the round fails, the old marks stay
        taken, released = self._taken, 0
        if taken is not None:
            async with transactions.begin(read_only=True) as uow:
                positions = await uow.repos.orders.read_positions(self._reads.consumer)
            if not marks_reached(positions, taken.marks):
                log.info("fulfillment.expiry_awaits_reads", marks_taken_at=taken.at.isoformat())
                return 0
            released = await expire_reservations(
                transactions, expired_by=taken.at, batch_size=self._batch_size
            )
        self._taken = _Taken(now, marks)
        return released


async def expire_reservations(
    transactions: Transactions[FulfillmentRepositories],
    *,
    expired_by: datetime,
    batch_size: int = BATCH,
) -> int:
    """Release every reservation that had expired by ``expired_by`` (ReservationReleased,
    reason 'expired'): only call it once every payment outcome published before that moment
    was read (:class:`ReservationExpiry`)."""

    async def expired(uow: Unit, limit: int, skipping: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        return await uow.repos.orders.expired_reservations(expired_by, limit, skipping=skipping)

    async def release(uow: Unit, order_ids: Sequence[uuid.UUID]) -> int:
        # Their stock in the consumers' lock order (handlers/lock_ahead.py).
        await uow.repos.locks.lock_ahead(releasing=order_ids)
        reason = ReservationReleaseReason.EXPIRED
        return sum([await release_reservation(uow, order_id, reason) for order_id in order_ids])

    released = await in_batches(transactions, due=expired, work=release, batch_size=batch_size)
    if released:
        log.info("fulfillment.reservations_expired", count=released)
    return released

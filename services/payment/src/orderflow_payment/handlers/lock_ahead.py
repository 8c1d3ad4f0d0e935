"""Every order a batch of events is about, locked up front in one global order.

Each use case serialises its order with a per-order lock held to the end of the transaction,
and the consumer applies a whole batch in one transaction. Two instances whose batches met the
same orders in crossing orders (A then B, B then A: they arrive on different topics) would
deadlock; taking the batch's locks first, sorted, makes them queue instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import Event
from orderflow_contracts.events.returns import RefundRequested

from orderflow_payment.ports import PaymentRepositories


async def lock_batch(events: Sequence[Event], uow: UnitOfWork[PaymentRepositories]) -> None:
    """The consumer's ``lock_ahead``: the per-order lock of every event's order; then, held,
    their payments and facts, read once for the batch's handlers (two statements instead of
    two to four per event)."""
    order_ids = {o for e in events if isinstance(o := getattr(e, "order_id", None), uuid.UUID)}
    await uow.repos.payments.lock_orders(order_ids)
    # Then the refund ids', sorted too (each refund takes its own again, re-entrant): one id
    # sent for two orders is locked by two batches in crossing orders otherwise.
    if refund_ids := [e.refund_id for e in events if isinstance(e, RefundRequested)]:
        await uow.repos.refunds.lock_all(refund_ids)  # none in most batches: no round trip
    await uow.repos.payments.read_ahead(order_ids)
    await uow.repos.order_facts.read_ahead(order_ids)

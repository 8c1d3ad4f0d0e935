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

from orderflow_payment.ports import PaymentRepositories


async def lock_batch(events: Sequence[Event], uow: UnitOfWork[PaymentRepositories]) -> None:
    """The consumer's ``lock_ahead``: the per-order lock of every event's order."""
    order_ids = {getattr(event, "order_id", None) for event in events}
    await uow.repos.payments.lock_orders(o for o in order_ids if isinstance(o, uuid.UUID))

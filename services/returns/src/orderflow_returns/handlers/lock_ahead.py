"""Every order a batch of events names, locked up front in one global order.

Each use case serialises its order with a per-order lock held to the end of the transaction,
and the consumer applies a whole batch in one transaction. Taking the batch's locks first,
sorted, makes two instances whose batches meet the same orders in crossing orders queue instead
of deadlocking, and spares each handler its own lock's round trip. (A returned parcel names its
RMA, not its order: its handler still takes that order's lock itself.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import Event

from orderflow_returns.ports import ReturnsRepositories


async def lock_batch(events: Sequence[Event], uow: UnitOfWork[ReturnsRepositories]) -> None:
    """The consumer's ``lock_ahead``: the per-order lock of every event's order."""
    order_ids = {getattr(event, "order_id", None) for event in events}
    await uow.repos.orders.lock_all(o for o in order_ids if isinstance(o, uuid.UUID))

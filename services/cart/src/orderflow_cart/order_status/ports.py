"""What the order-status use cases need from storage (part of the cart's repositories)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.domain.status import OrderStatus

Render = Callable[[OrderFacts], OrderStatus]
"""How an order's facts become the status it shows (``domain.view.order_view`` with the
store's policies)."""


@dataclass(frozen=True)
class Position:
    """The last event a stored status reflects: a storefront waits for the one it expects."""

    version: int
    last_event_id: UUID
    last_event_type: str
    last_event_at: datetime
    applied_at: datetime


@dataclass(frozen=True)
class StoredStatus:
    """An order's status as stored: the view (JSON, as served) and the position it reflects."""

    order_id: UUID
    view: dict[str, Any]
    position: Position


@dataclass(frozen=True)
class CheckoutRejection:
    cart_id: str
    reasons: list[dict[str, Any]]
    rejected_at: datetime
    checkout_event_id: str | None  # the CheckoutRequested it answers (None: stored before)


@dataclass(frozen=True)
class PageCursor:
    """Where a page of a customer's orders (newest first) continues: after this order."""

    placed_at: datetime
    order_id: UUID


class OrderStatuses(Protocol):
    async def lock_orders(self, order_ids: Iterable[UUID]) -> None:
        """Hold every one of these orders until the transaction ends, taken in one global
        order, so two instances applying crossing batches queue instead of deadlocking; and
        read their facts at once, for ``facts_for_update`` to hand out in this transaction."""
        ...

    async def facts_for_update(self, order_id: UUID) -> OrderFacts | None:
        """The order's facts, locked until the transaction ends (so two instances applying
        events of one order do it one after the other); None when no event of it was applied
        yet (nothing to lock: see ``save``'s ``first``). The caller owns what it gets (it may
        change it in place) and saves it next. Costs no query for an order ``lock_orders``
        read in this transaction."""
        ...

    async def save(
        self,
        facts: OrderFacts,
        render: Render,
        *,
        first: bool,
        event_id: UUID,
        event_type: str,
        event_at: datetime,
        applied_at: datetime,
    ) -> int | None:
        """Store the facts and the view ``render`` derives from them when the row is written,
        count one more event applied, and notify listeners at commit; the new version. None
        when nothing was stored and the caller must read the facts again: with ``first`` (no
        facts were found), another transaction stored the order's first event meanwhile; else
        the stored facts are not the ones read.

        In a transaction whose orders ``lock_orders`` read, the save is deferred to
        ``write_pending`` (never None then), so a batch renders and writes each order once."""
        ...

    async def write_pending(self) -> None:
        """Write the saves this transaction deferred, one statement for all; raise
        ``TransientError`` when another writer changed one of those orders meanwhile."""
        ...

    async def get(self, order_id: UUID) -> StoredStatus | None: ...

    async def for_cart(self, cart_id: str) -> StoredStatus | None: ...

    async def for_customer(
        self, customer_id: str, *, after: PageCursor | None, limit: int
    ) -> list[StoredStatus]:
        """The customer's placed orders, newest first, after ``after``."""
        ...

    async def record_checkout_rejection(
        self,
        cart_id: str,
        reasons: list[dict[str, Any]],
        *,
        at: datetime,
        event_id: UUID,
        checkout_event_id: str | None,
        sequence: int | None = None,
    ) -> None:
        """Keep the cart's latest rejection (by ``sequence``, the cart's numbering of what it
        emits; by ``at`` when one of the two has none), whatever order they arrive in, with
        the event id of the checkout it answers."""
        ...

    async def checkout_rejection(self, cart_id: str) -> CheckoutRejection | None: ...

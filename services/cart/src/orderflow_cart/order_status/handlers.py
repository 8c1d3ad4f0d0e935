"""The order-status use cases: apply an event to its order's status; read statuses.

Event handlers run in the consumer's unit of work like every cart handler: the facts are read
under a lock, the event added (``domain.facts.add``), the view derived (``domain.view``) and
both stored in the same transaction as the inbox entry, so each event is applied exactly once.
The lock is taken, and the facts read, for the whole batch at once (``lock_batch``), and the
statuses the batch's events leave are rendered and written at once after the last
(``write_batch``): a batch costs three statements and one view per order however many events
it holds.
Queries run in read-only units of work opened by the HTTP routes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events import CheckoutRejected, Event
from orderflow_contracts.money import Money
from orderflow_contracts.policies import ReturnWindow, WarrantyPolicy
from pydantic import BaseModel

from orderflow_cart.order_status.domain.facts import ORDER_STATUS_EVENTS, add, order_id_of
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.domain.status import OrderStatus
from orderflow_cart.order_status.domain.view import order_view
from orderflow_cart.order_status.ports import CheckoutRejection, PageCursor, StoredStatus
from orderflow_cart.ports import CartUnit

PROJECTED_EVENTS: Final = ORDER_STATUS_EVENTS


async def lock_batch(events: Sequence[Event], uow: CartUnit) -> None:
    """The order-status consumer's ``lock_ahead``: every order its batch is about, locked up
    front in one global order, and their facts read for the batch's handlers. An order's
    events arrive on five topics, so two instances apply batches about the same orders; locked
    record by record, in crossing orders, they would deadlock."""
    await uow.repos.order_status.lock_orders(
        order_id_of(event) for event in events if isinstance(event, PROJECTED_EVENTS)
    )


async def write_batch(uow: CartUnit) -> None:
    """The order-status consumer's ``write_behind``: the statuses its batch left, stored and
    announced by one statement (a change stored meanwhile has the batch applied again)."""
    await uow.repos.order_status.write_pending()


async def project_order_event(
    event: Event, uow: CartUnit, *, return_window: ReturnWindow, warranty_policy: WarrantyPolicy
) -> None:
    """Add ``event`` to its order's facts and store the status derived from them."""
    assert uow.cause is not None, "an order event is applied as the consumer received it"
    order_id = order_id_of(event)
    statuses = uow.repos.order_status

    # Twice at most: the order's first event may race another instance's, or the facts read
    # for the batch may not be the stored ones any more; the second read is of the row itself,
    # locked.
    def render(facts: OrderFacts) -> OrderStatus:
        return order_view(facts, window=return_window, warranty=warranty_policy)

    for _ in range(2):
        known = await statuses.facts_for_update(order_id)
        facts = known if known is not None else OrderFacts(order_id=order_id)
        _refuse_foreign_money(event, facts)
        add(facts, event, occurred_at=uow.cause.occurred_at, event_id=uow.cause.event_id)
        saved = await statuses.save(
            facts,
            render,
            first=known is None,
            event_id=uow.cause.event_id,
            event_type=event.event_type,
            event_at=uow.cause.occurred_at,
            applied_at=uow.now,
        )
        if saved is not None:
            return
    raise TransientError(f"order {order_id}: its first row was stored twice by others")


def _refuse_foreign_money(event: Event, facts: OrderFacts) -> None:
    """An amount in another currency than the order's is not about this order: refused with a
    reason (the view's sums raised CurrencyMismatch, and the whole batch was applied again
    five times before the record was dead-lettered as a bug)."""
    if facts.placed is None:
        return  # the view leaves out what is not in the currency the order turns out to have
    currency = facts.placed.currency
    foreign = next((m for m in _amounts_in(event) if m.currency != currency), None)
    if foreign is not None:
        raise PermanentError(
            "currency_mismatch",
            f"{event.event_type} is in {foreign.currency.value}; order {facts.order_id} is in "
            f"{currency}",
        )


def _amounts_in(model: BaseModel, depth: int = 0) -> Iterator[Money]:
    """Every amount of an event, its lines' included (the contract nests them two deep)."""
    for _, value in model:
        if isinstance(value, Money):
            yield value
        elif depth < 2 and isinstance(value, BaseModel):
            yield from _amounts_in(value, depth + 1)
        elif depth < 2 and isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    yield from _amounts_in(item, depth + 1)


async def record_checkout_rejection(event: CheckoutRejected, uow: CartUnit) -> None:
    """Remember why the cart's latest checkout was refused, for ``GET /carts/{id}/order``."""
    assert uow.cause is not None, "a rejection is applied as the consumer received it"
    await uow.repos.order_status.record_checkout_rejection(
        event.cart_id,
        [reason.model_dump(mode="json") for reason in event.reasons],
        at=uow.cause.occurred_at,
        event_id=uow.cause.event_id,
        checkout_event_id=uow.cause.causation_id,
        sequence=uow.cause.sequence,
    )


# -------------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class CustomerOrders:
    orders: list[StoredStatus]
    next_page: PageCursor | None


async def order_status(order_id: UUID, uow: CartUnit) -> StoredStatus | None:
    return await uow.repos.order_status.get(order_id)


async def cart_order(cart_id: str, uow: CartUnit) -> StoredStatus | CheckoutRejection | None:
    """The order the cart became; else why its checkout was refused; else None."""
    found = await uow.repos.order_status.for_cart(cart_id)
    if found is not None:
        return found
    return await uow.repos.order_status.checkout_rejection(cart_id)


async def customer_orders(
    customer_id: str, after: PageCursor | None, limit: int, uow: CartUnit
) -> CustomerOrders:
    """One page of the customer's orders, newest first, and where the next page starts."""
    # One more than asked tells whether another page follows.
    found = await uow.repos.order_status.for_customer(customer_id, after=after, limit=limit + 1)
    page = found[:limit]
    next_page = None
    if len(found) > limit:
        last = page[-1]
        placed_at = last.view["placed_at"]
        next_page = PageCursor(placed_at=_parse_time(placed_at), order_id=last.order_id)
    return CustomerOrders(page, next_page)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

"""Events applied as the consumer applies them, and orders brought to a state through the use
cases themselves, for the handler tests."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from orderflow_chassis.testing import FakeTransactions, envelope_of
from orderflow_chassis.wiring import inject
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.events.orders import OrderPlaced
from orderflow_payment.handlers.authorisation import authorise_payment
from orderflow_payment.handlers.stock import record_stock_reserved
from orderflow_payment.ports import PaymentRepositories

from services.payment.tests.builders import order_placed, stock_reserved

Transactions = FakeTransactions[PaymentRepositories]


async def apply_event(
    use_case: Callable[..., Awaitable[None]],
    event: Event,
    transactions: Transactions,
    wired: Mapping[str, object],
    *,
    correlation_id: str | None = None,
) -> Envelope:
    """Apply ``event`` as the consumer would: ``use_case`` bound with ``inject``, in a unit of
    work caused by the event's envelope, rolled back (as its savepoint) when it raises."""
    envelope = envelope_of(event, correlation_id=correlation_id)
    saved, emitted = copy.deepcopy(transactions.repos), len(transactions.emitted.envelopes)
    try:
        await inject(use_case, wired)(event, transactions.unit(cause=envelope))
    except BaseException:
        transactions.repos = saved
        del transactions.emitted.envelopes[emitted:]
        raise
    return envelope


async def authorised_order(
    transactions: Transactions, wired: Mapping[str, object], **order: Any
) -> OrderPlaced:
    placed = order_placed(**order)
    await apply_event(authorise_payment, placed, transactions, wired)
    return placed


async def captured_order(
    transactions: Transactions, wired: Mapping[str, object], **order: Any
) -> OrderPlaced:
    placed = await authorised_order(transactions, wired, **order)
    await apply_event(record_stock_reserved, stock_reserved(placed.order_id), transactions, wired)
    return placed


async def lost_before_commit(
    use_case: Callable[..., Awaitable[None]],
    event: Event,
    transactions: Transactions,
    wired: Mapping[str, object],
) -> None:
    """Apply ``event``, then lose everything it recorded, as a process killed before its
    commit would: the provider keeps what it did, the journal of calls what was called."""
    saved, emitted = copy.deepcopy(transactions.repos), len(transactions.emitted.envelopes)
    await inject(use_case, wired)(event, transactions.unit(cause=envelope_of(event)))
    transactions.repos = saved
    del transactions.emitted.envelopes[emitted:]

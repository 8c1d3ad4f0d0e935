"""Orders brought to a state through the use cases themselves, for the handler tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orderflow_chassis.testing import FakeTransactions
from orderflow_contracts.events.orders import OrderPlaced
from orderflow_payment.handlers.authorisation import authorise_payment
from orderflow_payment.handlers.stock import record_stock_reserved
from orderflow_payment.ports import PaymentRepositories

from services.payment.tests.builders import order_placed, stock_reserved
from services.payment.tests.fakes import apply_event

Transactions = FakeTransactions[PaymentRepositories]


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

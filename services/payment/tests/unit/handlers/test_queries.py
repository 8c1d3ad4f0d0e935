"""The ops view of one order: unknown, facts only, or its payment with refunds and ledger."""

from __future__ import annotations

import uuid
from decimal import Decimal

from orderflow_payment.handlers.cancellation import cancel_payment
from orderflow_payment.handlers.queries import payment_of_order
from orderflow_payment.handlers.refunds import refund_payment

from services.payment.tests.builders import order_cancelled, refund_requested
from services.payment.tests.fake_provider import ScriptedProvider, dependencies
from services.payment.tests.fakes import fake_transactions
from services.payment.tests.unit.handlers.steps import apply_event, captured_order


async def test_an_order_payment_never_heard_of_is_none() -> None:
    transactions = fake_transactions()

    async with transactions.begin(read_only=True) as uow:
        assert await payment_of_order(uuid.uuid4(), uow) is None


async def test_an_order_known_only_by_its_facts_has_no_payment() -> None:
    transactions = fake_transactions()
    order_id = uuid.uuid4()
    await apply_event(
        cancel_payment, order_cancelled(order_id), transactions, dependencies(ScriptedProvider())
    )

    async with transactions.begin(read_only=True) as uow:
        view = await payment_of_order(order_id, uow)

    assert view is not None
    assert (view.order_id, view.stock, view.cancelled_reason) == (
        order_id,
        None,
        "customer_requested",
    )
    assert (view.payment, view.refunds, view.ledger) == (None, [], [])


async def test_an_order_known_only_by_a_refund_asked_for_it_is_shown() -> None:
    # Payment stored the refund and answered not_captured, then GET /payments/{order_id}
    # said it knew nothing about the order.
    transactions = fake_transactions()
    order_id = uuid.uuid4()
    asked = refund_requested(order_id, "5.00")
    await apply_event(refund_payment, asked, transactions, dependencies(ScriptedProvider()))

    async with transactions.begin(read_only=True) as uow:
        view = await payment_of_order(order_id, uow)

    assert view is not None
    assert view.payment is None
    assert [(r.refund_id, r.status) for r in view.refunds] == [(asked.refund_id, "failed")]


async def test_a_refunded_payment_shows_its_refunds_and_a_balanced_ledger() -> None:
    transactions = fake_transactions()
    wired = dependencies(ScriptedProvider())
    order = await captured_order(transactions, wired, total="70.00")
    asked = refund_requested(order.order_id, "20.00")
    await apply_event(refund_payment, asked, transactions, wired)

    async with transactions.begin(read_only=True) as uow:
        view = await payment_of_order(order.order_id, uow)

    assert view is not None
    assert view.payment is not None
    assert (view.payment.status, view.payment.token_masked) == ("partially_refunded", "tok_…rove")
    assert (str(view.payment.captured), str(view.payment.refunded)) == ("70.00 EUR", "20.00 EUR")
    assert view.stock == "reserved"
    assert [(r.refund_id, str(r.amount), r.status) for r in view.refunds] == [
        (asked.refund_id, "20.00 EUR", "issued")
    ]
    assert len(view.ledger) == 8
    assert sum((entry.amount.amount for entry in view.ledger), Decimal(0)) == 0

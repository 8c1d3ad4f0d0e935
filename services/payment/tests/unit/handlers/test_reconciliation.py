"""Reconciliation as a use case: what it selects, asks the provider, and checks."""

from __future__ import annotations

import uuid
from datetime import timedelta

from orderflow_payment.domain.reconciliation import ProviderTotals
from orderflow_payment.handlers.reconciliation import reconcile_orders
from orderflow_payment.handlers.refunds import refund_payment

from services.payment.tests.builders import refund_requested
from services.payment.tests.fake_provider import ScriptedProvider, dependencies
from services.payment.tests.fakes import fake_transactions, provider_record_of, reconciliation_of
from services.payment.tests.unit.handlers.steps import (
    Transactions,
    apply_event,
    authorised_order,
    captured_order,
)


async def refunded_order(transactions: Transactions) -> uuid.UUID:
    """80.00 captured, 30.00 refunded, and the provider saying the same."""
    wired = dependencies(ScriptedProvider())
    order = await captured_order(transactions, wired, total="80.00")
    await apply_event(
        refund_payment, refund_requested(order.order_id, "30.00"), transactions, wired
    )
    provider_record_of(transactions).totals_by_order[order.order_id] = ProviderTotals(
        authorisations=1, captures=1, captured=8000, refunded=3000, currencies=frozenset({"EUR"})
    )
    return order.order_id


def touched(transactions: Transactions, order_id: uuid.UUID, seconds_ago: float) -> None:
    store = reconciliation_of(transactions)
    store.touched_at[order_id] = store.now - timedelta(seconds=seconds_ago)


async def test_an_order_whose_three_records_agree_reconciles() -> None:
    transactions = fake_transactions()
    order_id = await refunded_order(transactions)
    touched(transactions, order_id, 600)

    async with transactions.begin(read_only=True) as uow:
        run = await reconcile_orders(None, None, 60.0, uow)

    assert run.report.ok
    (result,) = run.report.orders
    figures = result.figures
    assert (figures.order_id, figures.currency, figures.status) == (
        order_id,
        "EUR",
        "partially_refunded",
    )
    assert (figures.ledger_receivable, figures.provider_captured) == (5000, 8000)
    assert run.report.ledger_balances == {"EUR": 0}


async def test_a_provider_that_disagrees_is_a_mismatch() -> None:
    transactions = fake_transactions()
    order_id = await refunded_order(transactions)
    touched(transactions, order_id, 600)
    provider_record_of(transactions).totals_by_order[order_id] = ProviderTotals(
        authorisations=1, captures=1, captured=8000, refunded=0, currencies=frozenset({"EUR"})
    )

    async with transactions.begin(read_only=True) as uow:
        run = await reconcile_orders(None, None, 60.0, uow)

    assert not run.report.ok
    assert [m.code for m in run.report.mismatches] == ["provider_mismatch"]


async def test_an_order_the_provider_never_heard_of_is_a_mismatch() -> None:
    transactions = fake_transactions()
    order = await authorised_order(transactions, dependencies(ScriptedProvider()))
    touched(transactions, order.order_id, 600)

    async with transactions.begin(read_only=True) as uow:
        run = await reconcile_orders(None, None, 60.0, uow)

    assert [m.code for m in run.report.mismatches] == ["provider_hold_mismatch"]


async def test_orders_in_flight_are_left_out_and_never_asked_of_the_provider() -> None:
    transactions = fake_transactions()
    settled = await refunded_order(transactions)
    recent = await refunded_order(transactions)
    touched(transactions, settled, 600)
    touched(transactions, recent, 5)

    async with transactions.begin(read_only=True) as uow:
        run = await reconcile_orders(None, None, 60.0, uow)

    assert (run.selection.orders, run.selection.in_flight) == ([settled], [recent])
    assert [r.figures.order_id for r in run.report.orders] == [settled]
    assert provider_record_of(transactions).asked == [[settled]]


async def test_the_ledger_is_summed_whole_unless_orders_are_singled_out() -> None:
    transactions = fake_transactions()
    first = await refunded_order(transactions)
    second = await refunded_order(transactions)
    touched(transactions, first, 900)
    touched(transactions, second, 600)
    since = reconciliation_of(transactions).now - timedelta(seconds=700)

    async with transactions.begin(read_only=True) as uow:
        await reconcile_orders(None, None, 60.0, uow)
        only = await reconcile_orders(None, [first], 60.0, uow)
        recent = await reconcile_orders(since, None, 60.0, uow)

    assert reconciliation_of(transactions).balance_scopes == [None, [first], [second]]
    assert [r.figures.order_id for r in only.report.orders] == [first]
    assert [r.figures.order_id for r in recent.report.orders] == [second]

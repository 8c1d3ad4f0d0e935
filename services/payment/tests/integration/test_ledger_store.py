"""The ledger writes a transaction and its entries in one statement, once per key, and they
balance."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from orderflow_chassis.database import connect
from orderflow_contracts.money import Money
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.ledger_store import SqlLedger
from orderflow_payment.adapters.payments import SqlPayments
from orderflow_payment.domain import ledger
from orderflow_payment.domain.model import Payment

from services.payment.tests.harness import payment_service

pytestmark = pytest.mark.integration


async def migrated_payment_schema(infrastructure: Infrastructure) -> asyncpg.Connection:
    async with payment_service(infrastructure):
        pass  # the service migrates its schema as it starts
    return await connect(infrastructure.service_database_urls["payment"], schema="payment")


async def test_a_transaction_is_posted_with_its_entries_once_per_key(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await migrated_payment_schema(orderflow_infrastructure)
    order_id, payment_id = uuid.uuid4(), uuid.uuid4()
    amount = Money.of("42.50", "EUR")
    capture = ledger.capture(order_id, payment_id, amount)
    payment = Payment.authorised(
        payment_id=payment_id,
        order_id=order_id,
        method="visa",
        provider="sandbox",
        amount=amount,
        reference="auth-ref",
        expires_at=datetime.now(UTC),
        correlation_id="ledger-test",
    )
    # Rolled back at the end: the reconciliation test (last) checks every committed payment.
    transaction = connection.transaction()
    await transaction.start()
    try:
        await SqlPayments(connection, "payment").add(
            payment, token_masked="tok_card_…", caused_by=uuid.uuid4()
        )
        ledger_store = SqlLedger(connection, "payment")
        assert await ledger_store.post(capture) is True
        assert await ledger_store.post(capture) is False
        await connection.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the balance check, now
        rows = await connection.fetch(
            "SELECT account, currency, amount_minor FROM payment.ledger_entries "
            "WHERE order_id = $1 ORDER BY entry_id",
            order_id,
        )
        assert [(r["account"], r["currency"], r["amount_minor"]) for r in rows] == [
            (p.account.value, "EUR", p.amount.minor_units) for p in capture.postings
        ]
        transactions = await connection.fetchval(
            "SELECT count(*) FROM payment.ledger_transactions WHERE order_id = $1", order_id
        )
        assert transactions == 1
    finally:
        await transaction.rollback()
        await connection.close()


async def test_a_lock_the_batch_took_costs_no_statement_in_its_handlers(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await migrated_payment_schema(orderflow_infrastructure)
    held, other = uuid.uuid4(), uuid.uuid4()
    sent: list[str] = []
    try:
        async with connection.transaction():
            await SqlPayments(connection, "payment").lock_orders([held])
            connection.add_query_logger(lambda record: sent.append(record.query))
            handlers_repository = SqlPayments(connection, "payment")  # one per record
            await handlers_repository.lock_order(held)
            await handlers_repository.lock_order(other)
            await asyncio.sleep(0)  # query loggers are called soon, not at once
        assert [query for query in sent if "advisory" in query] == [
            "SELECT pg_advisory_xact_lock(hashtext('orderflow.payment'), hashtext($1))"
        ]
        # A new transaction on the same connection holds nothing it did not lock again.
        sent.clear()
        async with connection.transaction():
            await SqlPayments(connection, "payment").lock_order(held)
            await asyncio.sleep(0)
        assert any("advisory" in query for query in sent), sent
    finally:
        await connection.close()

"""A batch reads its orders' payments and facts once, after their locks (``lock_ahead``), and
its handlers get them without a query, each a copy of its own, until the batch writes them:
what it wrote is read back from the database (so a write undone with a record's savepoint is
never handed out)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from orderflow_contracts.money import Money
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.order_facts import SqlOrderFacts
from orderflow_payment.adapters.payments import SqlPayments
from orderflow_payment.domain.model import OrderFacts, Payment, PaymentStatus, StockStatus

from services.payment.tests.integration.test_ledger_store import migrated_payment_schema

pytestmark = pytest.mark.integration


async def test_a_batch_reads_payments_and_facts_once_and_reads_its_own_writes_back(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await migrated_payment_schema(orderflow_infrastructure)
    paid, fresh = uuid.uuid4(), uuid.uuid4()
    payment = Payment.authorised(
        payment_id=uuid.uuid4(),
        order_id=paid,
        method="visa",
        provider="sandbox",
        amount=Money.of("42.50", "EUR"),
        reference="auth-ref",
        expires_at=datetime.now(UTC),
        correlation_id="batch-reads",
    )
    sent: list[str] = []
    # Rolled back at the end: the reconciliation test checks every committed payment.
    transaction = connection.transaction()
    await transaction.start()
    try:
        await SqlPayments(connection, "payment").add(
            payment, token_masked="tok_card_…", caused_by=uuid.uuid4()
        )
        await SqlOrderFacts(connection, "payment").record_stock(paid, StockStatus.RESERVED)
        batch = SqlPayments(connection, "payment")  # the batch's lock_ahead
        await batch.lock_orders([paid, fresh])
        await batch.read_ahead([paid, fresh])
        await SqlOrderFacts(connection, "payment").read_ahead([paid, fresh])

        connection.add_query_logger(lambda record: sent.append(record.query))
        payments = SqlPayments(connection, "payment")  # a handler's, one per record
        facts = SqlOrderFacts(connection, "payment")
        handed = await payments.get(paid)
        assert handed == payment
        assert await payments.get(fresh) is None
        assert (await facts.facts(paid)).stock_status is StockStatus.RESERVED
        assert await facts.facts(fresh) == OrderFacts()
        assert handed is not None
        handed.capture("cap-ref")  # a handler changes its copy, and stores nothing
        again = await payments.get(paid)
        assert again is not None
        assert again.status is PaymentStatus.AUTHORISED
        await asyncio.sleep(0)  # query loggers are called soon, not at once
        assert sent == [], "every read came from the batch's"

        await payments.save(handed)
        await facts.record_stock(paid, StockStatus.RELEASED)
        stored = await payments.get(paid)
        assert stored is not None
        assert stored.status is PaymentStatus.CAPTURED
        assert (await facts.facts(paid)).stock_status is StockStatus.RELEASED
    finally:
        await transaction.rollback()
        await connection.close()

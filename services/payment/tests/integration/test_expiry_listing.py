"""The expiry job's listing on PostgreSQL: expired authorisations never deferred first, by
expiry, then the deferred ones, least recently deferred first (review, stop 44: the oldest,
failing every round, held every newer one back)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_contracts.money import Money
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.payments import SqlPayments
from orderflow_payment.domain.model import Payment

from services.payment.tests.integration.test_ledger_store import migrated_payment_schema

pytestmark = pytest.mark.integration


async def test_never_deferred_first_then_the_least_recently_deferred(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await migrated_payment_schema(orderflow_infrastructure)
    now = datetime.now(UTC)
    payments = SqlPayments(connection, "payment")
    ids = {name: uuid.uuid4() for name in ("old", "older_deferred", "deferred", "fresh", "live")}
    expiry = {
        "old": now - timedelta(hours=2),
        "older_deferred": now - timedelta(hours=5),
        "deferred": now - timedelta(hours=6),
        "fresh": now - timedelta(minutes=1),
        "live": now + timedelta(hours=1),  # not expired: never listed
    }
    transaction = connection.transaction()  # rolled back: other tests check committed payments
    await transaction.start()
    try:
        for name, order_id in ids.items():
            payment = Payment.authorised(
                payment_id=uuid.uuid4(),
                order_id=order_id,
                method="visa",
                provider="sandbox",
                amount=Money.of("10.00", "EUR"),
                reference=f"auth-{name}",
                expires_at=expiry[name],
                correlation_id="expiry-listing",
            )
            await payments.add(payment, token_masked="tok_card_…", caused_by=uuid.uuid4())
        await payments.defer_expiry(ids["deferred"], now - timedelta(minutes=30))
        await payments.defer_expiry(ids["older_deferred"], now - timedelta(minutes=10))

        # Other tests' payments may share the schema: only this test's are looked at.
        async def listing(limit: int = 1000) -> list[uuid.UUID]:
            mine = set(ids.values())
            return [i for i in await payments.expired_authorisations(now, limit=limit) if i in mine]

        listed = await listing()
        assert listed == [ids["old"], ids["fresh"], ids["deferred"], ids["older_deferred"]]
        assert len(await payments.expired_authorisations(now, limit=3)) == 3
        await payments.defer_expiry(ids["old"], now)
        assert (await listing())[-1] == ids["old"]
    finally:
        await transaction.rollback()
        await connection.close()

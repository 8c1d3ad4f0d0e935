"""The same OrderPlaced — redelivered, re-sent, or raced by two instances — authorises once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from orderflow_chassis.outbox import EmittedEvents, Outbox
from orderflow_chassis.unit_of_work import DatabaseTransactions
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.provider_registry import ProviderRegistry
from orderflow_payment.adapters.repositories import sql_repositories
from orderflow_payment.adapters.sandbox import SandboxProvider
from orderflow_payment.handlers.authorisation import authorise_payment

from services.payment.tests.builders import envelope, order_placed, stock_reserved
from services.payment.tests.fake_provider import MemoryJournal
from services.payment.tests.harness import payment_service, payment_settings
from tests.support.kafka_tools import eventually
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration


async def counts(pool: asyncpg.Pool, order_id: uuid.UUID) -> dict[str, int]:
    query = {
        "payments": "SELECT count(*) FROM payment.payments WHERE order_id = $1::uuid",
        "ledger_rows": "SELECT count(*) FROM payment.ledger_entries WHERE order_id = $1::uuid",
        "sandbox_authorisations": "SELECT count(*) FROM payment.sandbox_operations "
        "WHERE merchant_reference = $1::text AND operation = 'authorise'",
        "sandbox_authorise_requests": "SELECT count(*) FROM payment.sandbox_requests "
        "WHERE idempotency_key = 'authorise:' || $1::text",
        "sandbox_captures": "SELECT count(*) FROM payment.sandbox_operations "
        "WHERE merchant_reference = $1::text AND operation = 'capture'",
        "authorized_events": "SELECT count(*) FROM payment.outbox "
        "WHERE message_key = $1::text AND event_type = 'PaymentAuthorized'",
        "captured_events": "SELECT count(*) FROM payment.outbox "
        "WHERE message_key = $1::text AND event_type = 'PaymentCaptured'",
    }
    return {name: int(await pool.fetchval(sql, str(order_id))) for name, sql in query.items()}


async def test_the_same_order_placed_twice_authorises_once(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order = order_placed()
        first = envelope(order)
        resent = envelope(order)  # the same fact in a new message (new event id)
        await run.publish(first, first, resent)
        assert await run.wait_applied(first, resent) == 2
        found = await counts(run.pool, order.order_id)

    assert found == {
        "payments": 1,
        "ledger_rows": 2,
        "sandbox_authorisations": 1,
        "sandbox_authorise_requests": 1,
        "sandbox_captures": 0,
        "authorized_events": 1,
        "captured_events": 0,
    }


async def test_two_instances_consuming_the_same_events_at_once_authorise_and_capture_once(
    orderflow_infrastructure: Infrastructure,
) -> None:
    prefix = unique_prefix("payment-race")
    # Two instances on one schema, in two consumer groups: each receives every message, at
    # the same time. The sandbox's latency keeps the first one's transaction open while the
    # second one arrives.
    async with (
        payment_service(orderflow_infrastructure, prefix=prefix, sandbox_latency_ms=300) as one,
        payment_service(
            orderflow_infrastructure,
            prefix=prefix,
            subscription_name="events-twin",
            sandbox_latency_ms=300,
        ) as two,
    ):
        order = order_placed()
        placed = envelope(order)
        reserved = envelope(stock_reserved(order.order_id))
        await one.publish(placed, placed, reserved)

        async def consumers_done() -> int:
            return int(
                await one.pool.fetchval(
                    "SELECT count(*) FROM payment.inbox WHERE event_id = ANY($1::uuid[])",
                    [placed.event_id, reserved.event_id],
                )
            )

        assert await eventually(consumers_done, lambda n: n == 4) == 4
        groups = await one.pool.fetch(
            "SELECT DISTINCT consumer FROM payment.inbox WHERE event_id = $1", placed.event_id
        )
        found = await counts(one.pool, order.order_id)
        status = await two.status(order.order_id)

    assert {g["consumer"].rsplit(".", 1)[-1] for g in groups} == {"events", "events-twin"}
    assert status == "captured"
    assert found == {
        "payments": 1,
        "ledger_rows": 6,
        "sandbox_authorisations": 1,
        "sandbox_authorise_requests": 1,
        "sandbox_captures": 1,
        "authorized_events": 1,
        "captured_events": 1,
    }


async def test_two_transactions_racing_the_same_order_placed_authorise_once(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        settings = run.runtime.settings
        sandbox = SandboxProvider(settings.database_url, schema="payment", latency_ms=200)
        providers = ProviderRegistry({"visa": sandbox}, journal=MemoryJournal())
        outbox = Outbox("payment", producer="payment", topic_prefix=run.prefix)
        transactions = DatabaseTransactions(
            run.pool, sql_repositories("payment"), outbox, run.clock
        )
        order = order_placed()
        both_open = asyncio.Barrier(2)

        async def instance() -> None:
            # Each "instance" has its own connection and transaction, both open before either
            # handler starts: a real race, decided by PostgreSQL alone.
            async with run.pool.acquire() as connection, connection.transaction():
                await connection.fetchval("SELECT txid_current()")
                await both_open.wait()
                emitted = EmittedEvents(outbox)
                uow = transactions.unit(connection, emitted, cause=envelope(order))
                await authorise_payment(
                    order,
                    uow,
                    providers=providers,
                    settings=payment_settings(),
                    sleep=asyncio.sleep,
                )
                await emitted.write(connection)

        try:
            await asyncio.gather(instance(), instance())
        finally:
            await sandbox.close()
        found = await counts(run.pool, order.order_id)

    assert found == {
        "payments": 1,
        "ledger_rows": 2,
        "sandbox_authorisations": 1,
        "sandbox_authorise_requests": 1,
        "sandbox_captures": 0,
        "authorized_events": 1,
        "captured_events": 0,
    }

"""The payment service running in-process against the real Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from orderflow_chassis.clock import SettableClock
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.bootstrap import build_definition
from orderflow_payment.settings import PaymentSettings

from services.payment.tests.builders import envelope
from tests.support.kafka_tools import create_topics, eventually
from tests.support.service_harness import (
    publish_envelopes,
    read_envelopes,
    running_service,
    service_settings,
    unique_prefix,
)

INPUT_TOPICS = (topics.ORDERS, topics.FULFILLMENT, topics.RETURNS)


@dataclass
class PaymentRun:
    infrastructure: Infrastructure
    runtime: ServiceRuntime
    prefix: str
    clock: SettableClock

    @property
    def pool(self) -> Any:
        return self.runtime.pool

    async def publish(self, *events: Event | Envelope) -> list[Envelope]:
        envelopes = [e if isinstance(e, Envelope) else envelope(e) for e in events]
        await publish_envelopes(self.infrastructure, self.prefix, envelopes)
        return envelopes

    async def wait_applied(self, *envelopes: Envelope) -> int:
        """Wait until the consumer applied (recorded in its inbox) every one of ``envelopes``."""
        ids = [e.event_id for e in envelopes]

        async def applied() -> int:
            return int(
                await self.pool.fetchval(
                    "SELECT count(DISTINCT event_id) FROM payment.inbox "
                    "WHERE event_id = ANY($1::uuid[])",
                    ids,
                )
            )

        return await eventually(applied, lambda n: n == len(ids))

    async def published(self, expect: int, *, topic: str = topics.PAYMENTS) -> list[Envelope]:
        """Everything payment published so far (waits for ``expect`` messages)."""
        return await read_envelopes(self.infrastructure, self.prefix, topic, expect=expect)

    async def status(self, order_id: uuid.UUID) -> str | None:
        value = await self.pool.fetchval(
            "SELECT status FROM payment.payments WHERE order_id = $1", order_id
        )
        return None if value is None else str(value)

    async def wait_for_status(self, order_id: uuid.UUID, status: str) -> str | None:
        return await eventually(lambda: self.status(order_id), lambda s: s == status)

    async def wait_for_refund(self, refund_id: uuid.UUID) -> str | None:
        async def probe() -> str | None:
            value = await self.pool.fetchval(
                "SELECT status FROM payment.refunds WHERE refund_id = $1", refund_id
            )
            return None if value is None else str(value)

        return await eventually(probe, lambda s: s is not None)

    async def sandbox_operations(self, order_id: uuid.UUID) -> list[tuple[str, str, int]]:
        rows = await self.pool.fetch(
            """
            SELECT operation, outcome, amount_minor FROM payment.sandbox_operations
            WHERE merchant_reference = $1 ORDER BY created_at, operation
            """,
            str(order_id),
        )
        return [(r["operation"], r["outcome"], r["amount_minor"]) for r in rows]

    async def sandbox_requests(self, order_id: uuid.UUID) -> list[tuple[str, int, str]]:
        rows = await self.pool.fetch(
            """
            SELECT operation, attempt, response FROM payment.sandbox_requests
            WHERE idempotency_key LIKE '%' || $1 || '%'
               OR idempotency_key IN (
                   SELECT idempotency_key FROM payment.sandbox_operations
                   WHERE merchant_reference = $1)
            ORDER BY request_id
            """,
            str(order_id),
        )
        return [(r["operation"], r["attempt"], r["response"]) for r in rows]

    async def outbox_types(self, order_id: uuid.UUID) -> list[str]:
        """Every event payment committed for the order, in order (what the relay publishes)."""
        rows = await self.pool.fetch(
            """
            SELECT event_type FROM payment.outbox
            WHERE message_key = $1 AND topic = $2 ORDER BY id
            """,
            str(order_id),
            self.prefix + topics.PAYMENTS,
        )
        return [str(r["event_type"]) for r in rows]

    async def ledger(self, order_id: uuid.UUID) -> list[tuple[str, str, int]]:
        rows = await self.pool.fetch(
            """
            SELECT t.kind, e.account, e.amount_minor
            FROM payment.ledger_entries e JOIN payment.ledger_transactions t USING (transaction_id)
            WHERE e.order_id = $1 ORDER BY e.entry_id
            """,
            order_id,
        )
        return [(r["kind"], r["account"], r["amount_minor"]) for r in rows]


def payment_settings(**overrides: Any) -> PaymentSettings:
    values: dict[str, Any] = {
        "provider_retry_attempts": 4,
        "provider_retry_initial_delay_s": 0.01,
        "provider_retry_max_delay_s": 0.05,
        "expiry_sweep_interval_s": 3600.0,
    }
    values.update(overrides)
    return PaymentSettings(**values)


@asynccontextmanager
async def payment_service(
    infrastructure: Infrastructure,
    *,
    prefix: str | None = None,
    clock: SettableClock | None = None,
    subscription_name: str | None = None,
    settings_overrides: dict[str, Any] | None = None,
    **payment_overrides: Any,
) -> AsyncIterator[PaymentRun]:
    prefix = prefix or unique_prefix("payment")
    await create_topics(
        infrastructure.kafka_bootstrap_servers, [prefix + topic for topic in INPUT_TOPICS]
    )
    settings = service_settings(
        infrastructure,
        "payment",
        topic_prefix=prefix,
        consumer_retry_initial_delay_s=0.05,
        **(settings_overrides or {}),
    )
    clock = clock or SettableClock()
    definition = build_definition(
        settings, clock=clock, payment_settings=payment_settings(**payment_overrides)
    )
    if subscription_name is not None:
        definition = replace(
            definition,
            subscriptions=[replace(s, name=subscription_name) for s in definition.subscriptions],
        )
    async with running_service(definition, settings) as runtime:
        yield PaymentRun(infrastructure, runtime, prefix, clock)


def event_types(envelopes: Sequence[Envelope]) -> list[str]:
    return [e.event_type for e in envelopes]

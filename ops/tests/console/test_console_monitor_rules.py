"""The invariant monitor's rules across orders, on a real read model (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.console.monitor import evaluate
from orderflow_ops.invariants import Deadlines

from ops.tests.console.console_harness import running_console
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=1)


async def test_a_checkout_dead_lettered_before_its_request_was_read_is_answered(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # The letter only marked an existing row answered: stored first (the dead-letter topics
    # are small and caught up first after a restart), it left the request unanswered for
    # ever, a false critical alert. And no rule counted past the 1,000 rows it fetched.
    async with running_console(orderflow_infrastructure, unique_prefix("monitor")) as console:
        pool = console.runtime.pool
        dead_lettered = uuid.uuid4()
        await pool.execute(
            """
            INSERT INTO console.dead_letters (dlq_topic, dlq_partition, dlq_offset,
                original_topic, service, consumer, error_code, reason, failed_at, event_id,
                message_value, headers)
            VALUES ('storefront.carts.dlq', 0, 0, 'storefront.carts', 'cart', 'cart.events',
                    'invalid_event_data', 'refused', $1, $2, '\\x7b7d', '[]')
            """,
            LONG_AGO,
            str(dead_lettered),
        )
        unanswered = [uuid.uuid4() for _ in range(1_002)]
        await pool.executemany(
            "INSERT INTO console.checkouts (event_id, cart_id, requested_at) VALUES ($1, $2, $3)",
            [(event_id, f"cart-{event_id}", LONG_AGO) for event_id in [dead_lettered, *unanswered]],
        )

        found = await evaluate(pool, "console", Deadlines(), NOW)

    assert found.counts["checkout_unanswered"] == 1_002
    assert f"cart-{dead_lettered}" not in found.examples["checkout_unanswered"]

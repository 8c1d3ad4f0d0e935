"""The sweeps' listings on real PostgreSQL leave out the carts a round set aside."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from orderflow_cart.adapters.carts import CartRepository

from services.cart.tests.integration.conftest import SCHEMA

pytestmark = pytest.mark.integration


async def test_overdue_gaps_and_idle_carts_leave_out_the_carts_set_aside(
    connection: asyncpg.Connection,
) -> None:
    set_aside, other = (f"cart-sweep-{uuid.uuid4().hex[:8]}" for _ in range(2))
    long_ago = datetime.now(UTC) - timedelta(days=1)
    transaction = connection.transaction()  # rolled back: the sweeps never see these carts
    await transaction.start()
    try:
        await connection.executemany(
            f"""
            INSERT INTO {SCHEMA}.carts (cart_id, created_at, last_activity_at)
            VALUES ($1, $2, $2)
            """,
            [(set_aside, long_ago), (other, long_ago + timedelta(seconds=1))],
        )
        await connection.executemany(
            f"""
            INSERT INTO {SCHEMA}.cart_lines (cart_id, sku, quantity, position)
            VALUES ($1, 'MB-PEANUT', 1, 0)
            """,
            [(set_aside,), (other,)],
        )
        await connection.executemany(
            f"""
            INSERT INTO {SCHEMA}.pending_cart_events
                (cart_id, sequence, event_id, event_type, envelope, received_at)
            VALUES ($1, 3, $2, 'CartItemAdded', $3, $4)
            """,
            [(cart_id, uuid.uuid4(), json.dumps({}), long_ago) for cart_id in (set_aside, other)],
        )
        carts = CartRepository(connection, SCHEMA)
        now = datetime.now(UTC)

        def mine(found: list[str]) -> list[str]:
            return sorted(cart_id for cart_id in found if cart_id in (set_aside, other))

        assert mine(await carts.with_overdue_gaps(now, 10_000)) == sorted([set_aside, other])
        assert mine(await carts.with_overdue_gaps(now, 10_000, skipping=[set_aside])) == [other]
        assert mine(await carts.idle(now, 10_000)) == sorted([set_aside, other])
        assert mine(await carts.idle(now, 10_000, skipping=[set_aside])) == [other]
    finally:
        await transaction.rollback()

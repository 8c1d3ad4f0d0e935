"""What ops read about a cart's unapplied events is bounded, on real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from orderflow_cart.adapters.cart_ops_records import LISTED
from orderflow_cart.adapters.carts import CartRepository

from services.cart.tests.integration.conftest import SCHEMA

pytestmark = pytest.mark.integration


async def test_a_cart_flooded_with_bad_events_lists_only_the_latest(
    connection: asyncpg.Connection,
) -> None:
    # A storefront can send one cart bad events without end; the ops answer must not grow.
    cart_id = f"cart-flood-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC)
    await connection.executemany(
        f"""
        INSERT INTO {SCHEMA}.unapplied_cart_events
            (cart_id, event_id, event_type, sequence, reason, detail, recorded_at)
        VALUES ($1, $2, 'CartItemAdded', $3, 'stale_sequence', 'probe', $4)
        """,
        [(cart_id, uuid.uuid4(), n, start + timedelta(seconds=n)) for n in range(LISTED + 20)],
    )
    await connection.executemany(
        f"""
        INSERT INTO {SCHEMA}.skipped_cart_sequences
            (cart_id, first_sequence, last_sequence, skipped_at)
        VALUES ($1, $2, $2, $3)
        """,
        [(cart_id, n, start) for n in range(1, LISTED + 21)],
    )

    carts = CartRepository(connection, SCHEMA)
    unapplied = await carts.unapplied(cart_id)
    skipped = await carts.skipped(cart_id)

    assert [event.sequence for event in unapplied] == list(range(20, LISTED + 20))
    assert [s.first_sequence for s in skipped] == list(range(21, LISTED + 21))

"""The chassis's pool hands a released connection on without a reset round trip, and still
never hands on a transaction a holder left open."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from orderflow_chassis.database import create_pool
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_relay_order import SCHEMA

pytestmark = pytest.mark.integration


async def one_connection_pool(infrastructure: Infrastructure) -> asyncpg.Pool:
    """The chassis' pool, of one connection: what one holder releases, the next one gets."""
    return await create_pool(
        infrastructure.service_database_urls[SCHEMA],
        schema=SCHEMA,
        application_name=f"pool-{uuid.uuid4().hex[:6]}",
        min_size=1,
        max_size=1,
    )


async def test_a_released_connection_is_sent_no_reset_query(
    infrastructure: Infrastructure,
) -> None:
    pool = await one_connection_pool(infrastructure)
    sent: list[str] = []

    def logged(record: Any) -> None:
        sent.append(record.query)

    try:
        async with pool.acquire() as connection:
            # Registered on the connection itself: it still logs once the proxy is released.
            connection.add_query_logger(logged)
            async with connection.transaction():
                await connection.fetchval("SELECT 1")
        assert sent == ["BEGIN;", "SELECT 1", "COMMIT;"], sent
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW search_path") == SCHEMA
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_before_the_next_holder(
    infrastructure: Infrastructure,
) -> None:
    pool = await one_connection_pool(infrastructure)
    try:
        async with pool.acquire() as connection:
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMPORARY TABLE left_open (n int) ON COMMIT DROP")
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            found = await connection.fetchval("SELECT to_regclass('pg_temp.left_open')")
            assert found is None
    finally:
        await pool.close()

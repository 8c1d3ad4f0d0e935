"""The chassis's pool hands a released connection on without a reset round trip, still never
hands on a transaction a holder left open, and bounds every wait: a statement with no answer,
and a unit of work's wait for a free connection."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from orderflow_chassis.clock import SystemClock
from orderflow_chassis.database import create_pool
from orderflow_chassis.errors import is_transient
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.unit_of_work import DatabaseTransactions
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


async def test_a_statement_with_no_answer_is_cancelled_as_a_transient_error(
    infrastructure: Infrastructure,
) -> None:
    pool = await create_pool(
        infrastructure.service_database_urls[SCHEMA],
        schema=SCHEMA,
        application_name=f"hung-{uuid.uuid4().hex[:6]}",
        min_size=1,
        max_size=1,
        command_timeout_s=0.5,
    )
    try:
        with pytest.raises(TimeoutError) as raised:
            await pool.fetchval("SELECT pg_sleep(30)")  # a server that never answers
        assert is_transient(raised.value), "retried, never dead-lettered"
        # The statement was cancelled on the server, and the connection serves the next one.
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' "
                "AND state = 'active'"
            )
            == 0
        )
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_a_unit_of_work_waits_a_bounded_time_for_a_free_connection(
    infrastructure: Infrastructure,
) -> None:
    pool = await one_connection_pool(infrastructure)
    transactions = DatabaseTransactions(
        pool,
        lambda connection: None,
        Outbox(SCHEMA, producer="probe"),
        SystemClock(),
        acquire_timeout_s=0.5,
    )
    try:
        async with pool.acquire():  # every connection busy (a burst, or a hung server)
            with pytest.raises(TimeoutError):  # an HTTP 503 with Retry-After
                async with transactions.begin(read_only=True):
                    pass
        async with transactions.begin(read_only=True) as uow:
            assert uow.repos is None
    finally:
        await pool.close()

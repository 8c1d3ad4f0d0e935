"""Sessions on a server that is read-only: after a failover, a session still open on the old
writer (demoted), or a new one opened through a name that still points at it.

A session that found its server read-only was given back to the pool and lent out again, to
fail every write for as long as it lived: a consumer's batches and the jobs were retried on it
for ever (review, helper 122). It is closed instead, and the next use opens a new one. The
demotion is played by setting the session's ``default_transaction_read_only``.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from orderflow_chassis.clock import SystemClock
from orderflow_chassis.database import create_pool
from orderflow_chassis.migrations import migrate_when_writable
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.unit_of_work import DatabaseTransactions
from orderflow_localinfra.discovery import Infrastructure

pytestmark = pytest.mark.integration

SCHEMA = "probe_d"
WRITE = "CREATE TEMP TABLE IF NOT EXISTS read_only_probe (n int)"  # refused when read-only


async def demoted_session_pool(infrastructure: Infrastructure) -> asyncpg.Pool:
    """A pool of one session (the same one would come back every time), made read-only."""
    pool = await create_pool(
        infrastructure.service_database_urls[SCHEMA],
        schema=SCHEMA,
        application_name="read-only-probe",
        min_size=1,
        max_size=1,
    )
    async with pool.acquire() as connection:
        await connection.execute("SET default_transaction_read_only = on")
    return pool


async def test_a_session_that_found_its_server_read_only_is_not_lent_out_again(
    infrastructure: Infrastructure,
) -> None:
    pool = await demoted_session_pool(infrastructure)  # its server demoted while it lives
    transactions: DatabaseTransactions[Any] = DatabaseTransactions(
        pool, lambda connection: connection, Outbox(SCHEMA, "probe"), SystemClock()
    )
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with transactions.begin() as uow:
                await uow.repos.execute(WRITE)
        async with transactions.begin() as uow:  # tried again: on a new session
            await uow.repos.execute(WRITE)
            assert await uow.repos.fetchval("SHOW transaction_read_only") == "off"
    finally:
        await pool.close()


async def test_a_service_starting_on_a_read_only_server_waits_for_a_writer(
    infrastructure: Infrastructure,
) -> None:
    # Review (helper 126): its migrations failed on the demoted server and the service
    # exited, where a server still starting is waited for.
    pool = await demoted_session_pool(infrastructure)  # the name still on the demoted server
    try:
        await migrate_when_writable(pool, SCHEMA, wait_s=10.0)

        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW transaction_read_only") == "off"
    finally:
        await pool.close()

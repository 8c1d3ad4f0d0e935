"""Database faults injected while a test runs: cancelled queries, killed sessions.

Only backends of the test's own database are touched (``pg_stat_activity.datname``), and only
those of the services (their ``application_name`` is ``orderflow-<service>``): other
engineers' runs share the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import asyncpg

Fault = Literal["cancel", "terminate"]

_SIGNAL = {"cancel": "pg_cancel_backend", "terminate": "pg_terminate_backend"}


@dataclass
class FaultLoop:
    fault: Fault
    signalled: int = 0
    rounds: int = 0


async def _signal_backends(connection: asyncpg.Connection, fault: Fault) -> int:
    # Cancelling an idle backend does nothing, so cancel only those running a query;
    # terminate any of the services' sessions, idle pool connections included.
    state = "AND state = 'active'" if fault == "cancel" else ""
    found = await connection.fetchval(
        f"""
        SELECT count(*) FILTER (WHERE {_SIGNAL[fault]}(pid))
        FROM pg_stat_activity
        WHERE datname = current_database()
          AND pid <> pg_backend_pid()
          AND application_name LIKE 'orderflow-%'
          {state}
        """
    )
    return int(found or 0)


@contextlib.asynccontextmanager
async def fault_loop(
    admin_database_url: str, fault: Fault, *, every_s: float
) -> AsyncIterator[FaultLoop]:
    """Signal the services' backends every ``every_s`` seconds until the block ends."""
    loop = FaultLoop(fault)
    connection = await asyncpg.connect(
        admin_database_url, server_settings={"application_name": "fault-injector"}
    )

    async def run() -> None:
        while True:
            loop.signalled += await _signal_backends(connection, fault)
            loop.rounds += 1
            await asyncio.sleep(every_s)

    task = asyncio.create_task(run())
    try:
        yield loop
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()

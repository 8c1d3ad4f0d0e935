"""Connections of an adapter's own, apart from the service's units of work.

What must be committed whatever becomes of the service's transaction (the sandbox's record, as
a remote provider's would be; the journal of provider calls) is written on them. Pooled (one
opened per call cost ~12 ms and a backend process each) and opened on first use.
"""

from __future__ import annotations

import asyncio

import asyncpg
from orderflow_chassis.database import create_pool
from orderflow_chassis.settings import validate_identifier


class OwnConnections:
    def __init__(self, database_url: str, *, schema: str, application_name: str, size: int) -> None:
        self._dsn = database_url
        self.schema = validate_identifier(schema)
        self._application_name = application_name
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await create_pool(
                    self._dsn,
                    schema=self.schema,
                    application_name=self._application_name,
                    min_size=1,
                    max_size=self._size,
                )
            return self._pool

    async def close(self) -> None:
        """Close them (the service does at stop)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

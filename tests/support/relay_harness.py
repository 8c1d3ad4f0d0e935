"""A relay of a probe schema, run in the test's process, for the relay's integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiokafka import AIOKafkaProducer
from orderflow_chassis.database import create_pool
from orderflow_chassis.relay import OutboxRelay
from orderflow_localinfra.discovery import Infrastructure


@contextlib.asynccontextmanager
async def running_relay(
    infrastructure: Infrastructure,
    schema: str,
    new_producer: Callable[[], AIOKafkaProducer],
    *,
    ack_timeout_s: float = 30.0,
    server_settings: dict[str, str] | None = None,
) -> AsyncIterator[OutboxRelay]:
    """The relay of ``schema``, publishing with ``new_producer()`` (and replacing a stuck
    producer with another), until the block ends; then stopped, its producer too. Its
    sessions use ``server_settings`` (PostgreSQL settings)."""
    pool = await create_pool(
        infrastructure.service_database_urls[schema],
        schema=schema,
        application_name=f"relay-test-{uuid.uuid4().hex[:6]}",
        server_settings=server_settings or {},
    )
    producer = new_producer()
    await producer.start()
    relay = OutboxRelay(
        pool,
        producer,
        schema=schema,
        service=schema,
        poll_interval_s=0.05,
        new_producer=new_producer,
        ack_timeout_s=ack_timeout_s,
    )
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close(flush_s=1.0)
        await pool.close()


async def unsent(connection: asyncpg.Connection, schema: str, topic: str) -> int:
    """Outbox rows of ``topic`` not yet stamped sent."""
    return int(
        await connection.fetchval(
            f"SELECT count(*) FROM {schema}.outbox WHERE topic = $1 AND sent_at IS NULL", topic
        )
    )

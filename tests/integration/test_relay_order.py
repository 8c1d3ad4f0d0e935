"""The relay's per-aggregate order, pinned where id order and physical order part ways.

Rows of a short-lived test table come back in id order whatever the query says, so these tests
make the order adverse on purpose: a table whose rows are not in id order on disk, read by a
relay whose planner may only scan sequentially; and two writers of one aggregate whose
transactions interleave and commit in the opposite order to the one they began in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.outbox import Outbox, create_producer
from orderflow_chassis.relay import OutboxRelay
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, read_topic
from tests.support.probe_service import probe_definition
from tests.support.relay_harness import running_relay as harness_relay

pytestmark = pytest.mark.integration

SCHEMA = "probe_a"
# A planner that may only scan the outbox sequentially returns rows in physical order: the
# relay must not depend on that order being the id order.
SEQUENTIAL_SCANS_ONLY = {
    "enable_indexscan": "off",
    "enable_indexonlyscan": "off",
    "enable_bitmapscan": "off",
}


@asynccontextmanager
async def running_relay(
    infrastructure: Infrastructure, **server_settings: str
) -> AsyncIterator[OutboxRelay]:
    def new_producer() -> AIOKafkaProducer:
        return create_producer(infrastructure.kafka_bootstrap_servers, client_id="relay-order")

    async with harness_relay(
        infrastructure, SCHEMA, new_producer, server_settings=server_settings
    ) as relay:
        yield relay


async def migrated(database_url: str) -> asyncpg.Connection:
    connection = await connect(database_url, schema=SCHEMA)
    definition = probe_definition(SCHEMA, in_topics=[], group="x")
    await migrate_service(connection, SCHEMA, definition.migrations)
    return connection


async def published(kafka: str, topic: str, count: int) -> list[Envelope]:
    records = await read_topic(kafka, topic, expect=count, timeout_s=30)
    return [Envelope.from_bytes(record.value) for record in records]


async def unsent(connection: asyncpg.Connection, topic: str) -> int:
    return int(
        await connection.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.outbox WHERE topic = $1 AND sent_at IS NULL", topic
        )
    )


async def test_an_aggregate_is_published_in_id_order_from_a_table_that_is_not(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-order.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    connection = await migrated(infrastructure.service_database_urls[SCHEMA])
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    cart = f"cart-order-{uuid.uuid4().hex[:6]}"
    try:
        for n in range(6):
            event = cart_item_added(cart, sku=f"SKU-{n}").parse_event()
            async with connection.transaction():
                await outbox.add(connection, event, correlation_id="order", topic=topic)
        # Rewrite the aggregate's rows newest first (same ids, same content): a sequential
        # scan now meets them out of id order, as it can after updates, retries or vacuum.
        # (An update alone is not enough: pruning can put the new version back in place.)
        async with connection.transaction():
            rows = await connection.fetch(
                f"DELETE FROM {SCHEMA}.outbox WHERE topic = $1 RETURNING *", topic
            )
            columns = list(rows[0].keys())
            await connection.executemany(
                f"INSERT INTO {SCHEMA}.outbox ({', '.join(columns)}) "
                f"VALUES ({', '.join(f'${n}' for n in range(1, len(columns) + 1))})",
                [tuple(row) for row in sorted(rows, key=lambda row: row["id"], reverse=True)],
            )
        async with connection.transaction():
            for name, value in SEQUENTIAL_SCANS_ONLY.items():
                await connection.execute(f"SET LOCAL {name} = {value}")
            on_disk = await connection.fetch(
                f"SELECT id FROM {SCHEMA}.outbox WHERE topic = $1 AND sent_at IS NULL", topic
            )
        ids = [r["id"] for r in on_disk]
        assert ids != sorted(ids), "the set-up: the rows are not in id order on disk"

        async with running_relay(infrastructure, **SEQUENTIAL_SCANS_ONLY):
            await eventually(lambda: unsent(connection, topic), lambda n: n == 0)
        envelopes = await published(kafka, topic, 6)
    finally:
        await connection.close()
    assert [e.sequence for e in envelopes] == [1, 2, 3, 4, 5, 6]


async def test_interleaved_writers_of_one_aggregate_publish_in_commit_order(
    infrastructure: Infrastructure,
) -> None:
    """Writer A emits first but commits last; writer B waits for A's sequence lock. Sequence
    numbers, outbox ids and publication must all follow commit order."""
    kafka = infrastructure.kafka_bootstrap_servers
    database_url = infrastructure.service_database_urls[SCHEMA]
    topic = f"test.relay-interleaved.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    cart = f"cart-interleaved-{uuid.uuid4().hex[:6]}"
    first, second = await migrated(database_url), await connect(database_url, schema=SCHEMA)
    try:
        a = first.transaction()
        await a.start()
        from_a = await outbox.add(
            first, cart_item_added(cart, sku="SKU-A").parse_event(), correlation_id="a", topic=topic
        )
        b_emits = asyncio.create_task(_emit_in_own_transaction(second, outbox, cart, topic))
        await asyncio.sleep(0.3)
        assert not b_emits.done(), "B waits on A's lock of the aggregate's sequence"
        await a.commit()
        from_b = await b_emits
        async with running_relay(infrastructure):
            await eventually(lambda: unsent(first, topic), lambda n: n == 0)
        envelopes = await published(kafka, topic, 2)
    finally:
        await first.close()
        await second.close()
    assert (from_a.sequence, from_b.sequence) == (1, 2)
    assert [e.event_id for e in envelopes] == [from_a.event_id, from_b.event_id]


async def _emit_in_own_transaction(
    connection: asyncpg.Connection, outbox: Outbox, cart: str, topic: str
) -> Envelope:
    async with connection.transaction():
        return await outbox.add(
            connection,
            cart_item_added(cart, sku="SKU-B").parse_event(),
            correlation_id="b",
            topic=topic,
        )

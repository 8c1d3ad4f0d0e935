"""A batch's positions on PostgreSQL: the lock that reads them also moves them past the batch,
so the save before commit has nothing left to write, except where a record or a topic's
earlier life says otherwise (one round trip less per batch, issue #12)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from orderflow_chassis.database import Connection
from orderflow_chassis.positions import ConsumerPositions, TopicIdentity
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import started_probe
from tests.support.kafka_tools import create_topics, unique_topic

pytestmark = pytest.mark.integration

SCHEMA = "probe_a"


class KnownIds(TopicIdentity):
    """Topic ids as a test sets them; never asks Kafka."""

    def __init__(self, ids: dict[str, uuid.UUID]) -> None:
        super().__init__("localhost:1")
        self.ids = ids

    def known(self, topic: str) -> uuid.UUID | None:
        return self.ids.get(topic)

    async def refresh(self, topics: Sequence[str], *, force: bool = False) -> None:
        return None


class Counted:
    """A connection that counts the statements sent through it."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.statements = 0

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.statements += 1
        return await self._connection.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        self.statements += 1
        return await self._connection.execute(query, *args)


def records(topic: str, *offsets: int) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(topic, 0, offset, 0, 0, None, b"{}", None, 0, 2, []) for offset in offsets
    ]


async def test_the_lock_stores_the_batchs_positions_and_save_writes_only_what_differs(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("positions")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    runtime = await started_probe(infrastructure, SCHEMA, topic, f"positions-{uuid.uuid4().hex}")
    first_life, second_life = uuid.uuid4(), uuid.uuid4()
    ids = KnownIds({topic: first_life})
    consumer = f"positions-{uuid.uuid4().hex}"
    positions = ConsumerPositions(SCHEMA, consumer, service="probe")
    key = (topic, 0)

    async def batch(offsets: Sequence[int], applied_up_to: int | None = None) -> tuple[int, int]:
        """Lock, then save what applying the batch left; (position read, statements)."""
        async with runtime.pool.acquire() as connection, connection.transaction():
            counted = Counted(connection)
            as_connection = cast(Connection, counted)
            read = await positions.lock(as_connection, records(topic, *offsets), ids)
            left = {key: applied_up_to if applied_up_to is not None else read[key]}
            await positions.save(as_connection, left, ids)
            return read[key], counted.statements

    async def stored() -> tuple[int, uuid.UUID]:
        row = await runtime.pool.fetchrow(
            f"SELECT next_offset, topic_id FROM {SCHEMA}.consumer_positions "
            "WHERE consumer = $1 AND topic = $2",
            consumer,
            topic,
        )
        assert row is not None
        return row["next_offset"], row["topic_id"]

    try:
        # A first batch: a new row, read as 0 and stored past the batch by the lock alone.
        assert await batch([0, 1, 2, 3, 4], applied_up_to=5) == (0, 1)
        assert await stored() == (5, first_life)
        # A redelivery below the position: it stays, and nothing more is written.
        assert await batch([3, 4]) == (5, 1)
        assert await stored() == (5, first_life)
        # The next batch: moved past it by the lock.
        assert await batch([5, 6], applied_up_to=7) == (5, 1)
        assert await stored() == (7, first_life)
        # The topic's next life starts at 0: the lock kept the earlier life's 7, the batch
        # left 2, and save() writes it, with the new id.
        ids.ids[topic] = second_life
        assert await batch([0, 1], applied_up_to=2) == (0, 2)
        assert await stored() == (2, second_life)
    finally:
        await runtime.stop()

"""What a consumer passed over and has not stored yet: kept until written, never hiding a gap,
forgotten when its partition or its topic's life is gone (decision 55). The statements are
faked here; tests/integration/test_unhandled_batches.py runs them on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from orderflow_chassis import metrics
from orderflow_chassis.positions import ConsumerPositions, TopicIdentity

TOPIC = "passed-over"


class Database:
    """Answers the position statements from ``stored``; a pass-over may be held or fail."""

    def __init__(self, stored: int) -> None:
        self.stored = stored
        self.hold: asyncio.Event | None = None
        self.fails = False
        self.writes: list[list[int]] = []

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        # Both statements name the partitions by two arrays: topics, then partition numbers.
        rows = [
            {"topic": topic, "kafka_partition": partition, "next_offset": self.stored}
            | {"topic_id": None}
            for topic, partition in zip(args[1], args[2], strict=True)
        ]
        if "ON CONFLICT (consumer, topic, kafka_partition) DO UPDATE" in query:  # pass-over
            if self.hold is not None:
                await self.hold.wait()
            if self.fails:
                raise ConnectionError("the database is gone")
            self.writes.append(list(args[3]))
            self.stored = max(self.stored, *args[3])
        return rows


def records(*offsets: int, partition: int = 0) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(TOPIC, partition, offset, 0, 0, None, b"{}", None, 0, 2, [])
        for offset in offsets
    ]


def gaps() -> float:
    return sum(
        sample.value
        for family in metrics.POSITION_MISMATCHES.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels["topic"] == TOPIC
        and sample.labels["kind"] == "gap"
    )


@pytest.fixture
def positions() -> ConsumerPositions:
    return ConsumerPositions("probe", "probe.passed-over", service="probe")


TOPICS = TopicIdentity("localhost:1")


async def lock(
    positions: ConsumerPositions, database: Database, batch: Sequence[ConsumerRecord]
) -> dict[tuple[str, int], int]:
    return await positions.lock(cast(Any, database), batch, TOPICS)


async def store(positions: ConsumerPositions, database: Database) -> None:
    await positions.store_passed_over(cast(Any, database), TOPICS)


async def held_store(
    positions: ConsumerPositions, database: Database
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A store whose write is on its way, held until the event returned is set."""
    database.hold = release = asyncio.Event()
    writing = asyncio.create_task(store(positions, database))
    await asyncio.sleep(0)
    return writing, release


async def test_a_stretch_is_seen_by_a_batch_while_it_is_written_and_forgotten_after(
    positions: ConsumerPositions,
) -> None:
    database = Database(stored=10)
    positions.pass_over_later(records(10, 11, 12))
    writing, release = await held_store(positions, database)
    before = gaps()
    assert await lock(positions, database, records(13)) == {(TOPIC, 0): 10}
    assert gaps() == before, "the stretch is still known while its write is in flight"
    release.set()
    await writing
    assert database.writes == [[13]]
    assert not positions.passing_over()


async def test_a_failed_write_keeps_the_stretch_for_the_next_one(
    positions: ConsumerPositions,
) -> None:
    database = Database(stored=10)
    positions.pass_over_later(records(10, 11))
    database.fails = True
    with pytest.raises(ConnectionError):
        await store(positions, database)
    assert positions.passing_over()
    database.fails = False
    await store(positions, database)
    assert database.writes == [[12]]
    assert not positions.passing_over()


async def test_what_was_passed_over_while_written_is_kept_from_where_the_write_ended(
    positions: ConsumerPositions,
) -> None:
    database = Database(stored=10)
    positions.pass_over_later(records(10, 11, 12))
    writing, release = await held_store(positions, database)
    positions.pass_over_later(records(13, 14))
    release.set()
    await writing
    database.hold = None
    await store(positions, database)
    assert database.writes == [[13], [15]]
    before = gaps()
    assert await lock(positions, database, records(15)) == {(TOPIC, 0): 15}
    assert gaps() == before


async def test_records_that_do_not_continue_a_stretch_are_a_gap(
    positions: ConsumerPositions,
) -> None:
    database = Database(stored=10)
    before = gaps()
    positions.pass_over_later(records(10, 11, 12))
    positions.pass_over_later(records(20, 21))  # 13 to 19 never came
    assert gaps() == before + 1
    await lock(positions, database, records(30))  # nor did 22 to 29
    assert gaps() == before + 2


async def test_a_batch_applied_after_a_stretch_settles_it(positions: ConsumerPositions) -> None:
    database = Database(stored=10)
    positions.pass_over_later(records(10, 11))
    await lock(positions, database, records(12))
    positions.settled({(TOPIC, 0): 13})
    assert not positions.passing_over()


async def test_a_rebalance_forgets_the_stretches_of_partitions_it_took_away(
    positions: ConsumerPositions,
) -> None:
    positions.pass_over_later(records(10, 11, partition=0) + records(5, partition=1))
    positions.keep_only({(TOPIC, 1)})
    database = Database(stored=5)
    await store(positions, database)
    assert database.writes == [[6]], "only partition 1's"

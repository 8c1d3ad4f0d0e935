"""A partition Kafka does not acknowledge is paused: its rows wait, the others flow, and a
probe after the pause tells when it flows again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay_partitions import PausedPartitions, partition_of
from orderflow_chassis.relay_sending import send_in_waves

STUCK = TopicPartition("orders", 1)
WELL = TopicPartition("orders", 2)


def row(row_id: int, key: str) -> OutboxRow:
    return OutboxRow(row_id, "orders", key, b"{}", [], 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_partition_is_the_producers_own_choice() -> None:
    partitions = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    for n in range(200):
        key = f"order-{n}"
        assert partition_of(key, set(partitions)) == DefaultPartitioner()(
            key.encode(), partitions, partitions
        )


def test_a_timed_out_partition_holds_its_rows_back_and_keeps_their_keys_out_of_claims() -> None:
    clock = Clock()
    paused = PausedPartitions(pause_s=30, clock=clock)
    first = [row(1, "a"), row(2, "b")]
    routes = {1: STUCK, 2: WELL}
    paused.learn(acknowledged=[first[1]], timed_out=[first[0]], routes=routes)
    assert paused.paused == [STUCK]
    assert paused.held_keys() == ["a"]

    later = [row(3, "c"), row(4, "d"), row(5, "c")]
    routes = {3: STUCK, 4: WELL, 5: STUCK}
    sorted_out = paused.sort_out(later, routes)
    assert [r.id for r in sorted_out.send] == [4]
    assert sorted_out.held_back == 2
    assert sorted_out.probes == set()
    assert paused.held_keys() == ["a", "c"], "a new key of the paused partition is held too"


def test_after_the_pause_the_oldest_row_probes_and_an_acknowledgement_resumes() -> None:
    clock = Clock()
    paused = PausedPartitions(pause_s=30, clock=clock)
    paused.learn(acknowledged=[], timed_out=[row(1, "a")], routes={1: STUCK})
    clock.now += 30
    assert paused.held_keys() == [], "its keys may be claimed again, for the probe"

    rows = [row(1, "a"), row(6, "e"), row(7, "a"), row(8, "f")]
    routes = {1: STUCK, 6: STUCK, 7: STUCK, 8: WELL}
    sorted_out = paused.sort_out(rows, routes)
    assert sorted_out.probes == {1}, "one probe per partition: its oldest row"
    assert [r.id for r in sorted_out.send] == [1, 7, 8], "the probe's key may follow it"
    assert sorted_out.held_back == 1

    paused.learn(acknowledged=[row(1, "a")], timed_out=[], routes=routes)
    assert paused.paused == []
    assert paused.held_keys() == []
    assert [r.id for r in paused.sort_out(rows, routes).send] == [1, 6, 7, 8]


def test_a_probe_that_times_out_pauses_the_partition_again() -> None:
    clock = Clock()
    paused = PausedPartitions(pause_s=30, clock=clock)
    paused.learn(acknowledged=[], timed_out=[row(1, "a")], routes={1: STUCK})
    clock.now += 31
    assert paused.sort_out([row(1, "a")], {1: STUCK}).probes == {1}
    paused.learn(acknowledged=[], timed_out=[row(1, "a")], routes={1: STUCK})
    assert paused.held_keys() == ["a"]
    assert paused.sort_out([row(1, "a")], {1: STUCK}).send == []


def test_a_row_whose_partition_is_unknown_is_sent() -> None:
    paused = PausedPartitions(pause_s=30, clock=Clock())
    paused.learn(acknowledged=[], timed_out=[row(1, "a")], routes={})
    assert paused.paused == []
    assert [r.id for r in paused.sort_out([row(1, "a")], {}).send] == [1]


class StuckPartitionProducer:
    """Acknowledges at once, except rows of ``stuck_keys``, which it never acknowledges."""

    def __init__(self, stuck_keys: set[str]) -> None:
        self.stuck_keys = stuck_keys

    async def send(self, outbox_row: OutboxRow) -> Awaitable[object]:
        if outbox_row.key in self.stuck_keys:
            return asyncio.get_running_loop().create_future()
        return asyncio.sleep(0.01)


async def test_a_probe_is_waited_for_only_its_own_short_time() -> None:
    producer = StuckPartitionProducer({"a"})
    started = time.monotonic()
    report = await send_in_waves(
        [row(1, "a"), row(2, "b")],
        producer.send,
        park_after_attempts=3,
        ack_timeout_s=10,
        probes={1},
        probe_timeout_s=0.1,
    )
    assert time.monotonic() - started < 2, "not the full acknowledgement timeout"
    assert [r.id for r in report.acknowledged] == [2]
    assert [r.id for r in report.timed_out] == [1]
    assert "within 0.1 s" in report.transient[0].error

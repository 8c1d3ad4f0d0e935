"""Consumer lag per partition comes from the consumer's own fetches and its applied batches."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from orderflow_chassis.consumer_lag import LagTracker
from orderflow_chassis.consumer_records import next_offsets, without_idle_sleep
from prometheus_client import REGISTRY


class FakeKafkaConsumer:
    """What aiokafka's consumer tells after a fetch: its assignment and high-water marks."""

    def __init__(self, highwater: dict[TopicPartition, int | None]) -> None:
        self.highwaters = highwater
        self.batches: list[dict[TopicPartition, list[ConsumerRecord]]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.highwaters)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.highwaters[partition]

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        return self.batches.pop(0) if self.batches else {}


def record(topic: str, partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=(),
    )


def batch_subscriber() -> Any:
    broker = KafkaBroker("localhost:9092")
    return broker.subscriber("topic", group_id="g", batch=True, max_records=7, batch_timeout_ms=50)


def lag(consumer: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "orderflow_consumer_lag",
        {"service": "svc", "consumer": consumer, "topic": topic, "partition": str(partition)},
    )


def new_group() -> str:
    return f"group-{uuid.uuid4().hex[:8]}"  # the registry is global: a fresh label set each


def test_lag_is_the_high_water_mark_minus_the_next_offset_to_apply() -> None:
    group, tp = new_group(), TopicPartition("orders", 0)
    tracker = LagTracker("svc", group)
    kafka = FakeKafkaConsumer({tp: 10})
    fetched = [record("orders", 0, offset) for offset in (4, 5, 6)]

    tracker.polled(kafka, fetched)
    assert lag(group, "orders", 0) == 6, "offsets 4..9 are not applied yet"

    tracker.applied(next_offsets(fetched))
    assert lag(group, "orders", 0) == 3, "7, 8 and 9 remain"

    kafka.highwaters[tp] = 12
    tracker.polled(kafka, [])
    assert lag(group, "orders", 0) == 5, "an empty poll sees two more records produced"


def test_a_stalled_partition_keeps_growing_until_its_batch_is_applied() -> None:
    group, tp = new_group(), TopicPartition("orders", 1)
    tracker = LagTracker("svc", group)
    kafka = FakeKafkaConsumer({tp: 3})
    stuck = [record("orders", 1, 0)]
    tracker.polled(kafka, stuck)
    for highwater in (5, 9):  # the batch is rewound and fetched again, while more arrive
        kafka.highwaters[tp] = highwater
        tracker.polled(kafka, stuck)
    assert lag(group, "orders", 1) == 9
    tracker.applied(next_offsets([record("orders", 1, offset) for offset in range(9)]))
    assert lag(group, "orders", 1) == 0


def test_an_idle_partition_reads_zero_and_an_unfetched_one_is_not_exported() -> None:
    group = new_group()
    idle, unfetched = TopicPartition("orders", 0), TopicPartition("orders", 1)
    tracker = LagTracker("svc", group)
    tracker.polled(FakeKafkaConsumer({idle: 42, unfetched: None}), [])
    assert lag(group, "orders", 0) == 0
    assert lag(group, "orders", 1) is None


def test_records_fetched_after_an_empty_poll_correct_its_guess() -> None:
    # aiokafka may know the high-water mark before the records reach a poll: the empty poll
    # guesses "caught up", and the records then fetched from offset 0 show it was not.
    group, tp = new_group(), TopicPartition("orders", 2)
    tracker = LagTracker("svc", group)
    kafka = FakeKafkaConsumer({tp: 7})
    tracker.polled(kafka, [])
    assert lag(group, "orders", 2) == 0
    first_batch = [record("orders", 2, offset) for offset in (0, 1)]
    tracker.polled(kafka, first_batch)
    assert lag(group, "orders", 2) == 7, "the backlog the batch in progress starts"
    tracker.applied(next_offsets(first_batch))
    tracker.polled(kafka, [record("orders", 2, 0)])  # a rewound batch, once applied: no guess
    assert lag(group, "orders", 2) == 5


def test_a_partition_that_moved_to_another_instance_is_no_longer_exported() -> None:
    group = new_group()
    kept, moved = TopicPartition("orders", 0), TopicPartition("orders", 1)
    tracker = LagTracker("svc", group)
    tracker.polled(FakeKafkaConsumer({kept: 5, moved: 7}), [record("orders", 1, 2)])
    assert lag(group, "orders", 1) == 5
    tracker.polled(FakeKafkaConsumer({kept: 5}), [])
    assert lag(group, "orders", 1) is None
    assert lag(group, "orders", 0) == 0


async def test_the_fixed_poll_reports_every_poll_to_the_lag_tracker() -> None:
    group, tp = new_group(), TopicPartition("payments", 2)
    tracker = LagTracker("svc", group)
    subscriber = batch_subscriber()
    assert without_idle_sleep(subscriber, on_poll=tracker.polled)
    kafka = FakeKafkaConsumer({tp: 8})
    kafka.batches = [{tp: [record("payments", 2, 6), record("payments", 2, 7)]}]

    assert len(await subscriber.get_msg(kafka)) == 2
    assert lag(group, "payments", 2) == 2
    assert await subscriber.get_msg(kafka) == ()
    assert lag(group, "payments", 2) == 2, "an empty poll changes nothing until applied"

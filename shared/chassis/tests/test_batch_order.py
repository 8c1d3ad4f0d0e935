"""A batch is applied in the order its records were published, across partitions."""

from __future__ import annotations

from aiokafka import ConsumerRecord
from orderflow_chassis.consumer_records import in_timestamp_order


def record(topic: str, partition: int, offset: int, timestamp: int) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=timestamp,
        timestamp_type=0,
        key=None,
        value=b"",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(),
    )


def addresses(records: tuple[ConsumerRecord, ...]) -> list[tuple[str, int]]:
    return [(r.topic, r.offset) for r in records]


def test_records_of_two_topics_are_merged_by_timestamp() -> None:
    # FastStream hands the batch over partition by partition: the return request first,
    # although the delivery it depends on was published before it.
    batch = (
        record("returns", 0, 10, timestamp=2_000),
        record("returns", 0, 11, timestamp=4_000),
        record("fulfillment", 2, 50, timestamp=1_000),
        record("fulfillment", 2, 51, timestamp=3_000),
    )

    assert addresses(in_timestamp_order(batch)) == [
        ("fulfillment", 50),
        ("returns", 10),
        ("fulfillment", 51),
        ("returns", 11),
    ]


def test_a_partitions_own_order_is_kept_even_when_its_timestamps_are_not_monotonic() -> None:
    # Producer clocks may step back; a partition's order is the one Kafka promises.
    batch = (
        record("orders", 0, 7, timestamp=9_000),
        record("orders", 0, 8, timestamp=1_000),
        record("payments", 1, 3, timestamp=5_000),
    )

    ordered = addresses(in_timestamp_order(batch))

    assert ordered == [("payments", 3), ("orders", 7), ("orders", 8)]


def test_equal_timestamps_keep_the_batchs_order_and_one_partition_is_left_alone() -> None:
    tied = (record("a", 0, 1, timestamp=5), record("b", 0, 1, timestamp=5))
    single = (record("a", 0, 2, timestamp=9), record("a", 0, 3, timestamp=1))

    assert addresses(in_timestamp_order(tied)) == [("a", 1), ("b", 1)]
    assert in_timestamp_order(single) == single

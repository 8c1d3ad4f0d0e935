"""Kafka test tools: private topics, raw publishing and reading a topic to a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from unittest import mock

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.producer import message_accumulator
from aiokafka.producer import producer as aiokafka_producer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.topic_reader import stop_consumer

T = TypeVar("T")


def unique_topic(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:10]}"


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


Message = tuple[bytes | None, bytes, Sequence[tuple[str, bytes | None]]]
"""A record to publish: key, value and headers."""


async def publish_records(bootstrap: str, topic: str, messages: Sequence[Message]) -> None:
    """Publish (key, value, headers) in order, each acknowledged before the next, as an
    upstream producer would."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", **kafka_client_options()
    )
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=list(headers))
    finally:
        await producer.stop()


async def publish_raw(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes]],
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Publish (key, value) pairs in order, each with the same ``headers``."""
    await publish_records(bootstrap, topic, [(key, value, headers) for key, value in messages])


class RawHeaderName(str):
    """A header name written as the bytes given, UTF-8 or not. Kafka's own clients write only
    UTF-8 names; a client that writes its own bytes can send anything."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawHeaderName:
        name = super().__new__(cls, raw.decode("latin-1"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


async def publish_with_raw_header_names(
    bootstrap: str, topic: str, messages: Sequence[Message]
) -> None:
    """Publish (key, value, headers) in order; a :class:`RawHeaderName` goes out as its bytes.

    aiokafka's C batch builder refuses such a name, its Python one writes what ``encode``
    returns: the producer is given that one while it runs. Nothing else in this process may
    produce meanwhile."""
    python_builder = _DefaultRecordBatchBuilderPy
    with (
        mock.patch.object(message_accumulator, "DefaultRecordBatchBuilder", python_builder),
        mock.patch.object(aiokafka_producer, "DefaultRecordBatchBuilder", python_builder),
    ):
        await publish_records(bootstrap, topic, messages)


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, timeout_s: float = 30.0
) -> list[ConsumerRecord]:
    """Read ``topic`` from the beginning until ``expect`` records arrived or time is up.

    No consumer group: reading has no side effect on anyone's offsets. The topic may not
    exist yet (a dead-letter topic is created by its first message); frequent metadata
    refreshes pick it up when it appears.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,
        **kafka_client_options(),
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for partition_records in batch.values():
                records.extend(partition_records)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await stop_consumer(consumer)


async def end_offsets(
    bootstrap: str, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """The next offset to be written in each partition (0 for an empty one)."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_client_options()
    )
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(list(partitions))
        return offsets
    finally:
        await stop_consumer(consumer)


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed in Kafka (what a restarted consumer resumes from)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.2,
) -> T:
    """Poll ``probe`` until ``accept`` holds; return the last value (the caller asserts it)."""
    deadline = time.monotonic() + timeout_s
    value = await probe()
    while not accept(value) and time.monotonic() < deadline:
        await asyncio.sleep(interval_s)
        value = await probe()
    return value

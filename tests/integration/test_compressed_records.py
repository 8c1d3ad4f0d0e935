"""Records as any producer may send them: compressed with each codec Kafka offers, or with a
header name that is not UTF-8; and a fetch that fails part-way (a batch the consumer cannot
read) loses none of the records it had already taken from other partitions."""

from __future__ import annotations

import uuid

import aiokafka.codec
import pytest
from aiokafka import AIOKafkaProducer
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import applied, started_probe
from tests.support.events import cart_item_added
from tests.support.kafka_tools import (
    RawHeaderName,
    create_topics,
    eventually,
    publish_with_raw_header_names,
    unique_topic,
)

pytestmark = pytest.mark.integration


async def publish(
    bootstrap: str, topic: str, events: list[Envelope], *, codec: str | None, partition: int = 0
) -> None:
    """``events`` on one partition, in one compressed batch when ``codec`` is given."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=codec,
        linger_ms=50,  # the events travel together: one batch
        acks="all",
        **kafka_client_options(),
    )
    await producer.start()
    try:
        sent = [
            await producer.send(topic, e.to_bytes(), key=e.key, partition=partition) for e in events
        ]
        for delivery in sent:
            await delivery
    finally:
        await producer.stop()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_records_compressed_with_any_codec_are_applied(
    infrastructure: Infrastructure, codec: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic(f"codec-{codec}")
    await create_topics(kafka, [topic], partitions=1)
    events = [cart_item_added(f"cart-{codec}-{i}", sku="SKU-001") for i in range(5)]
    await publish(kafka, topic, events, codec=codec)
    runtime = await started_probe(infrastructure, "probe_a", topic, f"codec-{uuid.uuid4().hex}")
    try:
        ids = [e.event_id for e in events]
        done = await eventually(lambda: applied(runtime, ids), lambda got: len(got) == len(ids))
        assert done == set(ids)
    finally:
        await runtime.stop()


async def test_a_header_name_not_utf8_stalls_nothing_and_its_valid_event_is_applied(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("header-names")
    await create_topics(kafka, [topic], partitions=1)
    before, odd, after = (cart_item_added(f"cart-names-{i}", sku="SKU-001") for i in range(3))
    await publish_with_raw_header_names(
        kafka,
        topic,
        [
            (before.key, before.to_bytes(), []),
            (odd.key, odd.to_bytes(), [(RawHeaderName(b"\xff\xfe-trace"), b"1")]),
            (after.key, after.to_bytes(), [("event_type", b"CartItemAdded")]),
        ],
    )
    runtime = await started_probe(infrastructure, "probe_a", topic, f"names-{uuid.uuid4().hex}")
    try:
        ids = [before.event_id, odd.event_id, after.event_id]
        done = await eventually(lambda: applied(runtime, ids), lambda got: len(got) == len(ids))
        assert done == set(ids)
    finally:
        await runtime.stop()


async def test_a_fetch_failing_part_way_loses_no_record_of_the_other_partitions(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("fetch-fails")
    partitions = 8  # seven read plainly: some are drained before the lz4 one, whatever the order
    await create_topics(kafka, [topic], partitions=partitions)
    plain = {
        p: [cart_item_added(f"cart-{p}-{i}", sku="SKU-001") for i in range(3)]
        for p in range(partitions - 1)
    }
    for p, events in plain.items():
        await publish(kafka, topic, events, codec=None, partition=p)
    unreadable = [cart_item_added(f"cart-lz4-{i}", sku="SKU-001") for i in range(3)]
    await publish(kafka, topic, unreadable, codec="lz4", partition=partitions - 1)

    # The consumer cannot read lz4 for a while: each fetch that holds the lz4 batch fails
    # after aiokafka took the records of the partitions it read before it.
    cramjam = aiokafka.codec.cramjam
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)
    runtime = await started_probe(infrastructure, "probe_a", topic, f"fails-{uuid.uuid4().hex}")
    try:
        plain_ids = [e.event_id for events in plain.values() for e in events]
        # Fetches fail (or apply what comes before the lz4 batch) until the codec is back.
        await eventually(lambda: applied(runtime, plain_ids), lambda _: False, timeout_s=3)
        monkeypatch.setattr(aiokafka.codec, "cramjam", cramjam)
        every_id = plain_ids + [e.event_id for e in unreadable]
        done = await eventually(
            lambda: applied(runtime, every_id),
            lambda got: len(got) == len(every_id),
            timeout_s=45,  # FastStream waits 15 s after a codec error before it polls again
        )
        where = {e.event_id: p for p, events in plain.items() for e in events}
        where |= {e.event_id: partitions - 1 for e in unreadable}
        never = sorted(where[i] for i in set(every_id) - done)
        assert not never, f"records of partitions {never} never applied"
    finally:
        await runtime.stop()

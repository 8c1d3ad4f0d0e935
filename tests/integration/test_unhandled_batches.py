"""A batch holding nothing this consumer handles is passed over with one statement.

Consumers read shared topics, so many batches carry only event types another service handles.
Such a batch must move the consumer's positions (and Kafka offsets) past it without decoding a
record and without a transaction; what comes after it is applied as usual.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import applied, started_probe
from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, publish_raw, unique_topic

pytestmark = pytest.mark.integration


async def stored_position(runtime: ServiceRuntime, topic: str) -> int | None:
    value = await runtime.pool.fetchval(
        "SELECT next_offset FROM consumer_positions WHERE topic = $1 AND kafka_partition = 0",
        topic,
    )
    return None if value is None else int(value)


async def test_a_batch_of_other_services_events_moves_the_position_without_decoding(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("unhandled")
    await create_topics(kafka, [topic], partitions=1)
    # Not even JSON: decoding one would dead-letter it. The header says it is not ours.
    await publish_raw(
        kafka,
        topic,
        [(b"order-1", b"\x00 not an envelope %d" % index) for index in range(5)],
        headers=[("event_type", b"OrderShipped")],
    )
    group = f"unhandled-{uuid.uuid4().hex[:8]}"
    runtime = await started_probe(infrastructure, "probe_a", topic, group)
    try:
        position = await eventually(
            lambda: stored_position(runtime, topic), lambda offset: offset == 5
        )
        assert position == 5
        handled = cart_item_added("cart-after", sku="SKU-001")
        await publish_raw(kafka, topic, [(handled.key, handled.to_bytes())])
        done = await eventually(lambda: applied(runtime, [handled.event_id]), bool)
        assert done == {handled.event_id}
        assert await stored_position(runtime, topic) == 6
        group_id = runtime.consumers[0].group_id
        committed = await eventually(
            lambda: committed_offset(kafka, group_id, topic), lambda offset: offset == 6
        )
        assert committed == 6, "Kafka's offset follows"
        inbox = await runtime.pool.fetchval("SELECT count(*) FROM inbox WHERE topic = $1", topic)
        assert inbox == 1
        letters = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1", f"{topic}.dlq"
        )
        assert letters == 0, "nothing passed over was decoded"
    finally:
        await runtime.stop()


async def committed_offset(kafka: str, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **kafka_client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    found = offsets.get(TopicPartition(topic, 0))
    return None if found is None else found.offset

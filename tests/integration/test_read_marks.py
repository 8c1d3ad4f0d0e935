"""Read marks: a topic's end offsets now (Kafka), reached once a consumer group's stored
positions (PostgreSQL) pass them, whichever partitions the records are on."""

from __future__ import annotations

import uuid

import pytest
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.read_marks import Marks, ReadMarks, mark_key, marks_reached, stored_positions
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import applied, started_probe
from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, publish_raw, unique_topic

pytestmark = pytest.mark.integration


async def reached(runtime: ServiceRuntime, consumer: str, marks: Marks) -> bool:
    async with runtime.pool.acquire() as connection:
        return marks_reached(await stored_positions(connection, "probe_a", consumer), marks)


async def test_marks_are_reached_once_the_consumer_applied_what_was_published_before_them(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("marks")
    await create_topics(kafka, [topic], partitions=2)
    events = [cart_item_added(f"cart-marks-{n}", sku="SKU-001") for n in range(6)]
    await publish_raw(kafka, topic, [(e.key, e.to_bytes()) for e in events])
    group = f"marks-{uuid.uuid4().hex[:8]}"
    marks = ReadMarks(kafka, security=KafkaSecurity.from_environment(), consumer="", topics=[topic])

    taken = await marks.take()

    assert set(taken) == {mark_key(topic, 0), mark_key(topic, 1)}
    assert sum(taken.values()) == 6
    runtime = await started_probe(infrastructure, "probe_a", topic, group)
    try:
        group_id = runtime.consumers[0].group_id
        # Nothing applied yet under another group's name: not reached.
        assert not await reached(runtime, f"{group_id}-other", taken)
        await eventually(
            lambda: applied(runtime, [e.event_id for e in events]), lambda f: len(f) == 6
        )
        assert await eventually(lambda: reached(runtime, group_id, taken), bool)
        # A record published after the marks were taken is not waited for; a new mark is.
        later = cart_item_added("cart-marks-later", sku="SKU-002")
        await publish_raw(kafka, topic, [(later.key, later.to_bytes())])
        assert await reached(runtime, group_id, taken)
        assert sum((await marks.take()).values()) == 7
    finally:
        await runtime.stop()

"""A batch holding nothing this consumer handles is passed over without a statement of its own.

Consumers read shared topics, so many batches carry only event types another service handles.
Such a batch must move the consumer's positions (and Kafka offsets) past it without decoding a
record and without a transaction; what comes after it is applied as usual. Its positions are
stored with the next batch applied from its partitions, or before Kafka's offsets move past it,
never after: a restart must not find Kafka ahead of a stored position (a false gap).
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from orderflow_chassis import metrics
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.offset_commits import OffsetCommits
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
        headers=[("event_type", b"PaymentCaptured")],
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


def counted(metric: object, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels``."""
    return sum(
        sample.value
        for family in metric.collect()  # type: ignore[attr-defined]
        for sample in family.samples
        if sample.name.endswith("_total") and labels.items() <= sample.labels.items()
    )


def without_timed_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """As under steady load: no batch is due a commit and no poll comes back empty, so only
    a batch applied from the same partition, or the commit at stop, stores what was passed
    over."""

    async def never_idle(self: OffsetCommits, kafka_consumer: object) -> None:
        pass

    monkeypatch.setattr(OffsetCommits, "due", lambda self: False)
    monkeypatch.setattr(OffsetCommits, "flush", never_idle)


async def probe_on_a_new_topic(
    infrastructure: Infrastructure, name: str
) -> tuple[str, ServiceRuntime]:
    """A probe consuming a new one-partition topic, in a group of its own."""
    topic = unique_topic(name)
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    group = f"unhandled-{uuid.uuid4().hex[:8]}"
    return topic, await started_probe(infrastructure, "probe_a", topic, group)


async def passed_over(runtime: ServiceRuntime, topic: str, count: int) -> float:
    labels = {"consumer": runtime.consumers[0].group_id, "topic": topic, "outcome": "ignored"}

    async def seen() -> float:
        return counted(metrics.EVENTS_CONSUMED, **labels)

    return await eventually(seen, lambda n: n >= count)


async def test_passed_over_positions_wait_for_the_offset_commit_and_are_stored_before_it(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    without_timed_commits(monkeypatch)
    topic, runtime = await probe_on_a_new_topic(infrastructure, "unhandled-later")
    stopped = False
    try:
        group_id = runtime.consumers[0].group_id
        for index in range(4):  # one at a time: four batches
            await publish_raw(
                kafka, topic, [(b"order-1", b"{}")], headers=[("event_type", b"PaymentCaptured")]
            )
            assert await passed_over(runtime, topic, index + 1) == index + 1
        assert await stored_position(runtime, topic) is None, "no statement per batch"
        assert await committed_offset(kafka, group_id, topic) is None
        await runtime.stop()  # the commit at stop stores the positions first
        stopped = True
        connection = await asyncpg.connect(infrastructure.service_database_urls["probe_a"])
        try:
            position = await connection.fetchval(
                "SELECT next_offset FROM consumer_positions WHERE topic = $1", topic
            )
        finally:
            await connection.close()
        assert position == 4
        assert await committed_offset(kafka, group_id, topic) == 4
    finally:
        if not stopped:
            await runtime.stop()


async def test_a_batch_after_a_stretch_passed_over_and_not_stored_sees_no_gap(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    without_timed_commits(monkeypatch)
    topic, runtime = await probe_on_a_new_topic(infrastructure, "unhandled-gap")
    try:
        group_id = runtime.consumers[0].group_id
        first = cart_item_added("cart-before", sku="SKU-001")
        await publish_raw(kafka, topic, [(first.key, first.to_bytes())])
        assert await eventually(lambda: applied(runtime, [first.event_id]), bool)
        assert await stored_position(runtime, topic) == 1
        await publish_raw(
            kafka,
            topic,
            [(b"order-1", b"{}") for _ in range(3)],
            headers=[("event_type", b"PaymentCaptured")],
        )
        assert await passed_over(runtime, topic, 3) == 3
        assert await stored_position(runtime, topic) == 1, "passed over, not stored yet"
        handled = cart_item_added("cart-after", sku="SKU-001")
        await publish_raw(kafka, topic, [(handled.key, handled.to_bytes())])
        assert await eventually(lambda: applied(runtime, [handled.event_id]), bool)
        assert await stored_position(runtime, topic) == 5, "stored with the next batch"
        gaps = counted(metrics.POSITION_MISMATCHES, consumer=group_id, topic=topic, kind="gap")
        assert gaps == 0, "the records between were passed over, not missed"
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

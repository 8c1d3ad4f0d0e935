"""How a consumer talks to Kafka between batches: offsets committed at most once per interval
catch up as soon as the consumer is idle (the lag that KEDA, the console and alerts read from
them goes back to zero) and before a rebalance takes their partitions, and an idle consumer's
fetches are paced on the real aiokafka client."""

from __future__ import annotations

import uuid

import pytest
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import applied, started_probe
from tests.integration.test_unhandled_batches import committed_offset, without_timed_commits
from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, publish_raw, unique_topic

pytestmark = pytest.mark.integration


async def all_applied(runtime: ServiceRuntime, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return await eventually(
        lambda: applied(runtime, event_ids), lambda done: len(done) == len(event_ids)
    )


async def test_offsets_deferred_by_the_interval_are_committed_when_the_consumer_idles(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("commit-interval")
    await create_topics(kafka, [topic], partitions=1)
    group = f"interval-{uuid.uuid4().hex[:8]}"
    # Only an idle poll can commit the second burst within an hour's interval.
    runtime = await started_probe(
        infrastructure, "probe_a", topic, group, consumer_commit_interval_ms=3_600_000
    )
    try:
        group_id = runtime.consumers[0].group_id
        for burst, expected in ((3, 3), (2, 5)):
            events = [cart_item_added(f"cart-{burst}-{i}", sku="SKU-001") for i in range(burst)]
            await publish_raw(kafka, topic, [(e.key, e.to_bytes()) for e in events])
            done = await all_applied(runtime, [e.event_id for e in events])
            assert len(done) == burst
            committed = await eventually(
                lambda: committed_offset(kafka, group_id, topic),
                lambda offset: offset == expected,  # noqa: B023 (awaited in this iteration)
            )
            assert committed == expected, f"after a burst of {burst}: Kafka's offset caught up"
    finally:
        await runtime.stop()


async def test_applied_offsets_are_committed_before_a_rebalance_takes_their_partition(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("commit-revoked")
    await create_topics(kafka, [topic], partitions=1)
    group = f"revoked-{uuid.uuid4().hex[:8]}"

    without_timed_commits(monkeypatch)  # only a rebalance (or a stop) can commit
    first = await started_probe(infrastructure, "probe_a", topic, group)
    second: ServiceRuntime | None = None
    try:
        group_id = first.consumers[0].group_id
        events = [cart_item_added(f"cart-{i}", sku="SKU-001") for i in range(5)]
        await publish_raw(kafka, topic, [(e.key, e.to_bytes()) for e in events])
        assert len(await all_applied(first, [e.event_id for e in events])) == 5
        assert await committed_offset(kafka, group_id, topic) is None
        # A second instance joins: the group rebalances, and the first commits what it
        # applied of the partition it gives up (and keeps running).
        second = await started_probe(infrastructure, "probe_a", topic, group)
        committed = await eventually(
            lambda: committed_offset(kafka, group_id, topic), lambda offset: offset == 5
        )
        assert committed == 5, "the partition's next owner starts after what was applied"
    finally:
        if second is not None:
            await second.stop()
        await first.stop()


async def test_an_idle_consumer_fetches_at_the_first_byte_and_still_applies_what_comes(
    infrastructure: Infrastructure,
) -> None:
    """The fetch pacing acts on the real aiokafka consumer: idle, its fetches are answered at
    the first byte, and a record published then is applied. (The switch back to the busy
    setting on a poll with records is the unit tests'.)"""
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("fetch-pacing")
    await create_topics(kafka, [topic], partitions=1)
    runtime = await started_probe(
        infrastructure,
        "probe_a",
        topic,
        f"pacing-{uuid.uuid4().hex[:8]}",
        consumer_fetch_min_bytes=65_536,
        consumer_fetch_max_wait_ms=50,
    )
    try:
        assert runtime._broker is not None
        (subscriber,) = runtime._broker.subscribers
        fetcher = subscriber.consumer._fetcher  # type: ignore[attr-defined]

        async def setting() -> tuple[int, int]:
            return fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms

        assert await eventually(setting, lambda s: s == (1, 500)) == (1, 500)
        event = cart_item_added("cart-paced", sku="SKU-001")
        await publish_raw(kafka, topic, [(event.key, event.to_bytes())])
        assert await all_applied(runtime, [event.event_id]) == {event.event_id}
    finally:
        await runtime.stop()

"""Dead letters and late consumer groups, with the probe service running in-process."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
import structlog
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.dead_letters import failure_details
from orderflow_chassis.dlq_cli import read_dead_letters, replay
from orderflow_chassis.errors import TransientError
from orderflow_chassis.runtime import RuntimeHooks, ServiceRuntime
from orderflow_chassis.subscriptions import ConsumerHooks
from orderflow_contracts.events import CartItemAdded
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import (
    create_topics,
    eventually,
    publish_raw,
    read_topic,
    unique_topic,
)
from tests.support.probe_service import (
    ProbeUnit,
    probe_definition,
    probe_settings,
    record_effect,
)

pytestmark = pytest.mark.integration


async def started_probe(
    infrastructure: Infrastructure, schema: str, topic: str, group: str, **settings: Any
) -> ServiceRuntime:
    """A probe service consuming ``topic``; ``settings`` override its defaults."""
    runtime = ServiceRuntime(
        probe_definition(schema, in_topics=[topic], group=group),
        probe_settings(
            schema,
            database_url=infrastructure.service_database_urls[schema],
            kafka=infrastructure.kafka_bootstrap_servers,
            **settings,
        ),
    )
    await runtime.start()
    return runtime


async def applied(runtime: ServiceRuntime, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await runtime.pool.fetch(
        "SELECT DISTINCT event_id FROM effects WHERE event_id = ANY($1::uuid[])", event_ids
    )
    return {row["event_id"] for row in rows}


async def test_bad_records_are_dead_lettered_with_reasons_and_the_partition_moves_on(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("poison")
    await create_topics(kafka, [topic])
    key = b"cart-poison"  # one key: every record lands on the same partition, in this order
    before = cart_item_added("cart-poison", sku="SKU-001")
    wrong_type = json.loads(cart_item_added("cart-poison", sku="SKU-002").to_bytes())
    wrong_type["data"]["quantity"] = "three"
    unknown_type = json.loads(cart_item_added("cart-poison", sku="SKU-003").to_bytes())
    unknown_type["event_type"] = "CartItemTeleported"
    after = cart_item_added("cart-poison", sku="SKU-004")
    await publish_raw(
        kafka,
        topic,
        [
            (key, before.to_bytes()),
            (key, b'{"event_id": "not closed'),
            (key, json.dumps(wrong_type).encode()),
            (key, json.dumps(unknown_type).encode()),
            (key, after.to_bytes()),
        ],
        headers=[("origin", b"test")],
    )

    runtime = await started_probe(
        infrastructure, "probe_a", topic, f"poison-{uuid.uuid4().hex[:8]}"
    )
    try:
        done = await eventually(
            lambda: applied(runtime, [before.event_id, after.event_id]), lambda s: len(s) == 2
        )
        assert done == {before.event_id, after.event_id}
        letters = await read_topic(kafka, f"{topic}.dlq", expect=2)
    finally:
        await runtime.stop()

    # An event type this consumer does not know is the contract's forward compatibility (a
    # newer producer's event on a shared topic): skipped, not dead-lettered.
    assert len(letters) == 2
    details = [failure_details(letter.headers) for letter in letters]
    assert [d["error_code"] for d in details] == ["malformed_json", "invalid_event_data"]
    assert "quantity" in details[1]["reason"]
    for letter, detail in zip(letters, details, strict=True):
        assert detail["service"] == "probe_a"
        assert detail["original_topic"] == topic
        assert letter.key == key
        assert ("origin", b"test") in letter.headers, "original headers are kept"
    assert letters[0].value == b'{"event_id": "not closed', "original bytes are kept"


async def test_a_consumer_group_created_after_publication_reads_from_the_beginning(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("late-group")
    await create_topics(kafka, [topic])
    envelopes = [cart_item_added(f"cart-{i}", sku="SKU-001") for i in range(12)]
    await publish_raw(kafka, topic, [(e.aggregate_id.encode(), e.to_bytes()) for e in envelopes])

    # The group did not exist when those were published.
    runtime = await started_probe(infrastructure, "probe_b", topic, f"late-{uuid.uuid4().hex[:8]}")
    try:
        event_ids = [e.event_id for e in envelopes]
        seen = await eventually(lambda: applied(runtime, event_ids), lambda s: len(s) == 12)
    finally:
        await runtime.stop()
    assert seen == set(event_ids)


async def test_start_up_jobs_finish_before_any_record_is_consumed_or_readiness_served(
    infrastructure: Infrastructure,
) -> None:
    """A seed (fulfillment's stock) must be in place before the first event needs it."""
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("start-up")
    await create_topics(kafka, [topic])
    envelope = cart_item_added("cart-start-up", sku="SKU-001")
    await publish_raw(kafka, topic, [(b"cart-start-up", envelope.to_bytes())])
    seen_during_job: list[Any] = []

    async def slow_seed(_: Any) -> None:
        await asyncio.sleep(2)  # the record waits on the topic meanwhile
        assert runtime._pool is not None
        effects = await runtime.pool.fetchval(
            "SELECT count(*) FROM effects WHERE event_id = $1", envelope.event_id
        )
        seen_during_job.append((effects, list(runtime.consumers), runtime.http_port))

    schema = "probe_b"
    runtime = ServiceRuntime(
        replace(
            probe_definition(schema, in_topics=[topic], group=f"start-{uuid.uuid4().hex[:8]}"),
            start_up_jobs=[slow_seed],
        ),
        probe_settings(
            schema,
            database_url=infrastructure.service_database_urls[schema],
            kafka=kafka,
        ),
    )
    await runtime.start()
    try:
        applied_after = await eventually(lambda: applied(runtime, [envelope.event_id]), bool)
    finally:
        await runtime.stop()
    assert seen_during_job == [(0, [], None)]
    assert applied_after == {envelope.event_id}


async def test_the_same_event_published_twice_is_applied_once(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("duplicate")
    await create_topics(kafka, [topic])
    envelope = cart_item_added("cart-dup", sku="SKU-001")
    marker = cart_item_added("cart-dup", sku="SKU-002")
    record = (b"cart-dup", envelope.to_bytes())
    await publish_raw(kafka, topic, [record, record, record, (b"cart-dup", marker.to_bytes())])

    runtime = await started_probe(infrastructure, "probe_a", topic, f"dup-{uuid.uuid4().hex[:8]}")
    try:
        await eventually(lambda: applied(runtime, [marker.event_id]), bool)
        count = await runtime.pool.fetchval(
            "SELECT count(*) FROM effects WHERE event_id = $1", envelope.event_id
        )
        inbox = await runtime.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = $1", envelope.event_id
        )
    finally:
        await runtime.stop()
    assert (count, inbox) == (1, 1)


async def test_an_event_published_again_after_it_was_applied_is_not_applied_again(
    infrastructure: Infrastructure,
) -> None:
    """The copy arrives in a later batch (a relay re-publishing after a crash): only the inbox
    can tell it was applied; positions see a new offset."""
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("republished")
    await create_topics(kafka, [topic], partitions=1)
    envelope = cart_item_added("cart-again", sku="SKU-001")
    marker = cart_item_added("cart-again", sku="SKU-002")
    record = (b"cart-again", envelope.to_bytes())
    await publish_raw(kafka, topic, [record])

    runtime = await started_probe(infrastructure, "probe_a", topic, f"again-{uuid.uuid4().hex[:8]}")
    try:
        assert await eventually(lambda: applied(runtime, [envelope.event_id]), bool)
        await publish_raw(kafka, topic, [record, (b"cart-again", marker.to_bytes())])
        await eventually(lambda: applied(runtime, [marker.event_id]), bool)
        count = await runtime.pool.fetchval(
            "SELECT count(*) FROM effects WHERE event_id = $1", envelope.event_id
        )
    finally:
        await runtime.stop()
    assert count == 1


async def test_a_transient_failure_is_retried_with_backoff_not_dead_lettered(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("transient")
    await create_topics(kafka, [topic])
    envelope = cart_item_added("cart-flaky", sku="SKU-001")
    await publish_raw(kafka, topic, [(b"cart-flaky", envelope.to_bytes())])
    attempts = 0

    async def flaky(event: CartItemAdded, uow: ProbeUnit) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise TransientError("payment provider timed out")
        await record_effect(event, uow)

    definition = probe_definition("probe_a", in_topics=[], group="unused")
    group = f"flaky-{uuid.uuid4().hex[:8]}"
    runtime = ServiceRuntime(
        replace(definition, subscriptions=[Subscription(group, [topic], {CartItemAdded: flaky})]),
        probe_settings(
            "probe_a",
            database_url=infrastructure.service_database_urls["probe_a"],
            kafka=kafka,
            consumer_retry_initial_delay_s=0.05,
        ),
    )
    await runtime.start()
    try:
        seen = await eventually(lambda: applied(runtime, [envelope.event_id]), bool)
        dead_letters = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1", f"{topic}.dlq"
        )
    finally:
        await runtime.stop()
    assert seen == {envelope.event_id}
    assert attempts == 3
    assert dead_letters == 0


async def test_health_and_metrics_are_served_over_http(infrastructure: Infrastructure) -> None:
    topic = unique_topic("health")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic])
    runtime = await started_probe(
        infrastructure, "probe_b", topic, f"health-{uuid.uuid4().hex[:8]}"
    )
    try:
        base = f"http://127.0.0.1:{runtime.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            live = await client.get("/health/live")
            ready = await client.get("/health/ready")
            metrics = await client.get("/metrics")
    finally:
        await runtime.stop()
    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["kafka"] == "ok"
    assert "orderflow_outbox_unsent" in metrics.text


async def test_a_dead_letter_can_be_listed_and_replayed_after_the_fix(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("replay")
    await create_topics(kafka, [topic])
    envelope = cart_item_added("cart-replay", sku="SKU-001")
    await publish_raw(kafka, topic, [(b"cart-replay", envelope.to_bytes())])
    bug_fixed = False

    async def buggy_until_fixed(event: CartItemAdded, uow: ProbeUnit) -> None:
        if not bug_fixed:
            raise KeyError("price")  # a bug: dead-lettered, not retried forever
        await record_effect(event, uow)

    definition = probe_definition("probe_a", in_topics=[], group="unused")
    group = f"replay-{uuid.uuid4().hex[:8]}"
    runtime = ServiceRuntime(
        replace(
            definition,
            subscriptions=[Subscription(group, [topic], {CartItemAdded: buggy_until_fixed})],
        ),
        probe_settings(
            "probe_a", database_url=infrastructure.service_database_urls["probe_a"], kafka=kafka
        ),
    )
    await runtime.start()
    try:
        letters = await eventually(
            lambda: read_dead_letters(kafka, f"{topic}.dlq"), lambda found: len(found) == 1
        )
        assert letters[0].details["error_code"] == "handler_failed"
        assert letters[0].details["reason"].startswith("KeyError: 'price'")
        assert letters[0].value == envelope.to_bytes()

        bug_fixed = True
        assert await replay(kafka, letters, f"{topic}.dlq") == 1
        seen = await eventually(lambda: applied(runtime, [envelope.event_id]), bool)
    finally:
        await runtime.stop()
    assert seen == {envelope.event_id}


async def test_a_handler_logs_with_its_records_ids_and_they_are_unbound_after_it(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("log-context")
    await create_topics(kafka, [topic])
    envelopes = [cart_item_added(f"cart-log-{i}", sku="SKU-001") for i in range(5)]
    await publish_raw(kafka, topic, [(e.aggregate_id.encode(), e.to_bytes()) for e in envelopes])
    during: dict[str, dict[str, object]] = {}
    after: list[dict[str, object]] = []

    async def remember_context(event: CartItemAdded, uow: ProbeUnit) -> None:
        assert uow.cause is not None
        during[str(uow.cause.event_id)] = structlog.contextvars.get_contextvars()
        await record_effect(event, uow)

    async def after_commit(records: object) -> None:
        after.append(structlog.contextvars.get_contextvars())

    definition = probe_definition("probe_a", in_topics=[topic], group=f"log-{uuid.uuid4().hex}")
    [subscription] = definition.subscriptions
    runtime = ServiceRuntime(
        replace(
            definition,
            subscriptions=[replace(subscription, handlers={CartItemAdded: remember_context})],
        ),
        probe_settings(
            "probe_a", database_url=infrastructure.service_database_urls["probe_a"], kafka=kafka
        ),
        hooks=RuntimeHooks(consumer=ConsumerHooks(after_commit=after_commit)),
    )
    await runtime.start()
    try:
        event_ids = [e.event_id for e in envelopes]
        await eventually(lambda: applied(runtime, event_ids), lambda seen: len(seen) == 5)
    finally:
        await runtime.stop()

    bound = ("event_id", "event_type", "correlation_id", "aggregate_id")
    for envelope in envelopes:
        context = during[str(envelope.event_id)]
        assert [context.get(key) for key in bound] == [
            str(envelope.event_id),
            "CartItemAdded",
            envelope.correlation_id,
            envelope.aggregate_id,
        ]
    assert after, "the after-commit hook ran"
    assert all("event_id" not in context for context in after)  # nothing left bound

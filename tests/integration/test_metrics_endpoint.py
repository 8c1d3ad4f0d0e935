"""A running service's ``/metrics``: every family the dashboard and alerts use, with values
that match what the service did (a scrape over HTTP, as Prometheus would)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import httpx
import pytest
from aiokafka import ConsumerRecord
from orderflow_chassis.errors import TransientError
from orderflow_chassis.metrics import exported_series
from orderflow_chassis.runtime import RuntimeHooks, ServiceRuntime
from orderflow_chassis.subscriptions import ConsumerHooks
from orderflow_localinfra.discovery import Infrastructure
from prometheus_client.parser import text_string_to_metric_families

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, publish_raw, unique_topic
from tests.support.probe_service import probe_definition, probe_settings

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(runtime: ServiceRuntime) -> Samples:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as http:
        response = await http.get("/metrics")
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample of ``name`` whose labels include ``labels`` (None when there is none)."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    assert len(found) <= 1, f"{name}{labels} matches several samples"
    return found[0] if found else None


def lags(samples: Samples, consumer: str) -> dict[str, float]:
    """The consumer group's lag by partition."""
    return {
        dict(labels)["partition"]: v
        for (name, labels), v in samples.items()
        if name == "orderflow_consumer_lag" and ("consumer", consumer) in labels
    }


async def test_a_running_service_exports_lag_backlog_dead_letters_latency_and_leadership(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("metrics")
    group = f"metrics-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka, [topic])
    key = b"cart-metrics"  # one key, one partition: its lag is every record on the topic
    good = [cart_item_added("cart-metrics", sku=f"SKU-{n:03}") for n in range(6)]
    records = [(key, e.to_bytes()) for e in good[:3]]
    records += [(key, b'{"event_id": "not closed')] + [(key, e.to_bytes()) for e in good[3:]]
    await publish_raw(kafka, topic, records)

    # The first batch waits after its poll, so the scrape sees the backlog before it shrinks.
    gate = asyncio.Event()

    async def hold_first_batch(_: Sequence[ConsumerRecord]) -> None:
        await gate.wait()

    runtime = ServiceRuntime(
        probe_definition("probe_a", in_topics=[topic], group=group),
        probe_settings(
            "probe_a",
            database_url=infrastructure.service_database_urls["probe_a"],
            kafka=kafka,
            consumer_max_records=2,
        ),
        hooks=RuntimeHooks(consumer=ConsumerHooks(after_poll=hold_first_batch)),
    )
    await runtime.start()
    consumer = runtime.consumers[0].group_id
    try:
        held = await eventually(
            lambda: scrape(runtime),
            lambda s: sorted(lags(s, consumer).values()) == [0, 0, 7],
            timeout_s=60,
        )
        held_lags = lags(held, consumer)
        assert sorted(held_lags.values()) == [0, 0, 7], f"one partition has 7: {held_lags}"

        gate.set()
        caught_up = await eventually(
            lambda: scrape(runtime),
            lambda s: (
                sorted(lags(s, consumer).values()) == [0, 0, 0]
                and value(s, "orderflow_outbox_relay_leader", service="probe_a") == 1
                and value(s, "orderflow_outbox_unsent", service="probe_a") == 0
            ),
            timeout_s=60,
        )
    finally:
        gate.set()
        await runtime.stop()

    assert sorted(lags(caught_up, consumer).values()) == [0, 0, 0]
    assert value(caught_up, "orderflow_outbox_relay_leader", service="probe_a") == 1
    assert value(caught_up, "orderflow_outbox_unsent", service="probe_a") == 0, (
        "the dead letter went through the outbox and was published"
    )
    assert value(caught_up, "orderflow_outbox_parked_rows", service="probe_a") == 0
    assert (
        value(
            caught_up,
            "orderflow_dead_letters_total",
            service="probe_a",
            topic=topic,
            code="malformed_json",
        )
        == 1
    )
    handled = value(
        caught_up, "orderflow_handler_seconds_count", service="probe_a", event_type="CartItemAdded"
    )
    assert handled is not None
    assert handled >= len(good), "a latency sample per applied event"
    slowest_bucket = value(
        caught_up,
        "orderflow_handler_seconds_bucket",
        service="probe_a",
        event_type="CartItemAdded",
        le="+Inf",
    )
    assert slowest_bucket == handled

    # The dashboard and alert rules are checked against exported_series(): it must say what
    # the wire carries, names and label sets alike.
    declared = exported_series()
    on_the_wire: dict[str, set[str]] = {}
    for name, labels in caught_up:
        if name in declared:
            on_the_wire.setdefault(name, set()).update(label for label, _ in labels)
    assert {
        "orderflow_consumer_lag",
        "orderflow_handler_seconds_bucket",
        "orderflow_handler_seconds_count",
        "orderflow_dead_letters_total",
        "orderflow_events_consumed_total",
        "orderflow_outbox_unsent",
        "orderflow_outbox_parked_rows",
        "orderflow_outbox_relay_leader",
    } <= on_the_wire.keys()
    assert {name: labels for name, labels in on_the_wire.items() if labels != declared[name]} == {}


async def test_a_dead_letter_is_counted_once_when_its_batch_is_retried(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("metrics-retry")
    await create_topics(kafka, [topic])
    key = b"cart-retry"
    await publish_raw(
        kafka,
        topic,
        [(key, b"not json"), (key, cart_item_added("cart-retry", sku="SKU-001").to_bytes())],
    )
    failures = [TransientError("the database blinked")]  # the batch's first commit fails

    async def fail_first_commit(_: Sequence[ConsumerRecord]) -> None:
        if failures:
            raise failures.pop()

    runtime = ServiceRuntime(
        probe_definition("probe_b", in_topics=[topic], group=f"retry-{uuid.uuid4().hex[:8]}"),
        probe_settings(
            "probe_b",
            database_url=infrastructure.service_database_urls["probe_b"],
            kafka=kafka,
            consumer_retry_initial_delay_s=0.05,
        ),
        hooks=RuntimeHooks(consumer=ConsumerHooks(before_commit=fail_first_commit)),
    )
    await runtime.start()
    try:
        samples = await eventually(
            lambda: scrape(runtime),
            lambda s: (
                value(s, "orderflow_consumer_transient_retries_total", service="probe_b")
                is not None
                and value(s, "orderflow_events_consumed_total", topic=topic, outcome="applied") == 1
            ),
            timeout_s=60,
        )
    finally:
        await runtime.stop()
    assert not failures, "the set-up: the batch was retried"
    assert value(samples, "orderflow_events_consumed_total", topic=topic, outcome="applied") == 1
    assert value(samples, "orderflow_dead_letters_total", topic=topic, code="malformed_json") == 1

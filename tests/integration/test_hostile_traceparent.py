"""A hostile ``traceparent`` header never stalls or dead-letters a valid event: it is ignored
and the event starts a trace of its own. A card number in it is refused like in any header.
On the real Kafka and PostgreSQL, the probe service in-process, tracing on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from orderflow_chassis.dead_letters import failure_details
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.testing import recorded_spans
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import (
    create_topics,
    eventually,
    publish_raw,
    read_topic,
    unique_topic,
)
from tests.support.probe_service import probe_definition, probe_settings

pytestmark = pytest.mark.integration

VALID_TRACE = "0af7651916cd43dd8448eb211c80319c"
HOSTILE_TRACEPARENTS: dict[str, list[tuple[str, bytes]]] = {
    "garbage": [("traceparent", b"<script>alert(1)</script>")],
    "oversized": [("traceparent", b"00-" + b"f" * 1_000_000)],
    "not utf-8": [("traceparent", b"\xff\xfe\x00\x01" * 20)],
    "null value": [("traceparent", b"")],
    "forbidden version": [("traceparent", f"ff-{VALID_TRACE}-b7ad6b7169203331-01".encode())],
    "zero trace id": [("traceparent", b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01")],
    "sent twice": [
        ("traceparent", f"00-{VALID_TRACE}-b7ad6b7169203331-01".encode()),
        ("traceparent", f"00-{'1' * 32}-b7ad6b7169203331-01".encode()),
    ],
}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


async def test_hostile_traceparents_are_ignored_and_the_events_applied(
    infrastructure: Infrastructure, spans: InMemorySpanExporter
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("traceparent")
    await create_topics(kafka, [topic])
    key = b"cart-traceparent"  # one partition: a stall would hold back everything after it
    events = {
        name: cart_item_added("cart-traceparent", sku="SKU-001") for name in HOSTILE_TRACEPARENTS
    }
    for name, headers in HOSTILE_TRACEPARENTS.items():
        await publish_raw(kafka, topic, [(key, events[name].to_bytes())], headers=headers)
    carded = cart_item_added("cart-traceparent", sku="SKU-002")
    card_trace = "4111111111111111" + "a" * 16  # a card number inside a trace id
    await publish_raw(
        kafka,
        topic,
        [(key, carded.to_bytes())],
        headers=[("traceparent", f"00-{card_trace}-b7ad6b7169203331-01".encode())],
    )
    last = cart_item_added("cart-traceparent", sku="SKU-003")
    await publish_raw(kafka, topic, [(key, last.to_bytes())])

    runtime = ServiceRuntime(
        probe_definition("probe_b", in_topics=[topic], group=f"tp-{uuid.uuid4().hex[:8]}"),
        probe_settings(
            "probe_b",
            database_url=infrastructure.service_database_urls["probe_b"],
            kafka=kafka,
        ),
    )
    await runtime.start()
    wanted = [e.event_id for e in [*events.values(), last]]
    try:
        applied = await eventually(
            lambda: _applied(runtime, wanted), lambda found: found == set(wanted), timeout_s=60
        )
        letters = await read_topic(kafka, f"{topic}.dlq", expect=1, timeout_s=30)
    finally:
        await runtime.stop()

    assert applied == set(wanted), "every event behind a hostile traceparent was applied"
    assert [failure_details(letter.headers)["error_code"] for letter in letters] == [
        "card_data_refused"
    ], "only the card number in a header is refused, as in any other header"
    assert b"4111111111111111" not in b"".join(v for _, v in letters[0].headers)
    consumed = [
        s
        for s in spans.get_finished_spans()
        if s.name.startswith("consume")
        and (s.attributes or {}).get("messaging.destination.name") == topic
    ]
    hostile_ids = {str(e.event_id) for e in events.values()}
    hostile = [s for s in consumed if (s.attributes or {}).get("orderflow.event_id") in hostile_ids]
    assert len({(s.attributes or {}).get("orderflow.event_id") for s in hostile}) == len(events)
    assert all(s.parent is None for s in hostile), "each starts a trace of its own"
    assert VALID_TRACE not in {f"{s.context.trace_id:032x}" for s in hostile}


async def _applied(runtime: ServiceRuntime, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await runtime.pool.fetch(
        "SELECT DISTINCT event_id FROM effects WHERE event_id = ANY($1::uuid[])", event_ids
    )
    return {row["event_id"] for row in rows}

"""Trace context: read from a record's header (an invalid one ignored), carried into what the
handler emits, and sent on by the relay; passed through unchanged when tracing is off."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind
from orderflow_chassis import tracing
from orderflow_chassis.testing import recorded_spans
from orderflow_contracts.card_data import contains_card_number
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


def envelope() -> Envelope:
    return Envelope.wrap(
        CartItemAdded(cart_id="cart-1", sku="SKU-1", quantity=1),
        producer="storefront",
        correlation_id="journey-1",
    )


def record(headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(
        topic="storefront.carts",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"cart-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=6,
        serialized_value_size=2,
        headers=headers,
    )


def test_a_valid_traceparent_is_read() -> None:
    assert tracing.incoming_traceparent([("event_type", b"X"), ("traceparent", PARENT.encode())])
    assert tracing.incoming_traceparent([("traceparent", PARENT.encode())]) == PARENT


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("traceparent", b"")],
        [("traceparent", b"not a trace context")],
        [("traceparent", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")],  # all-zero trace id
        [("traceparent", f"00-{TRACE_ID}-0000000000000000-01".encode())],  # all-zero span id
        [("traceparent", f"ff-{TRACE_ID}-00f067aa0ba902b7-01".encode())],  # forbidden version
        [("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7".encode())],  # flags missing
        [("traceparent", PARENT.encode() + b"-" + b"a" * 100_000)],  # far too long
        [("traceparent", "00-\u00e9\u00e9".encode() + PARENT.encode()[5:])],  # not ASCII
        [("traceparent", b"\xff\xfe" + PARENT.encode())],  # not UTF-8 either
        [("traceparent", PARENT.encode()), ("traceparent", PARENT.encode())],  # ambiguous
    ],
    ids=lambda headers: repr(headers)[:40],
)
def test_an_invalid_traceparent_is_ignored(headers: list[tuple[str, bytes]]) -> None:
    assert tracing.incoming_traceparent(headers) is None


def test_a_canonical_traceparent_is_read_exactly_as_the_propagator_reads_it() -> None:
    # Canonical version-00 contexts skip the propagator: its parse and format must agree.
    rng = random.Random(3)
    contexts = [
        f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-{rng.getrandbits(8):02x}"
        for _ in range(2_000)
    ] + [
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{'0' * 31}1-{'0' * 15}1-00",
        f"00-{TRACE_ID}-4111111111111111-01",  # a card number in the span id
    ]
    for context in contexts:
        expected = tracing._format(
            trace.get_current_span(tracing._propagator.extract({"traceparent": context}))
        )
        assert tracing.incoming_traceparent([("traceparent", context.encode())]) == expected


def test_with_tracing_off_the_incoming_context_is_passed_on_as_it_came() -> None:
    assert not tracing.enabled()
    with tracing.consuming(record([("traceparent", PARENT.encode())]), envelope(), service="s"):
        with tracing.handling(service="s", event_type="CartItemAdded"):
            assert tracing.current_traceparent() == PARENT
        span, header = tracing.start_publish(
            tracing.current_traceparent(), service="s", topic="t", event_type="E"
        )
    assert (span, header) == (None, PARENT)
    assert tracing.current_traceparent() is None, "reset after the record"
    with tracing.consuming(record([("traceparent", b"garbage")]), envelope(), service="s"):
        assert tracing.current_traceparent() is None


def test_consume_handle_and_publish_spans_continue_the_records_trace(
    spans: InMemorySpanExporter,
) -> None:
    with (
        tracing.consuming(record([("traceparent", PARENT.encode())]), envelope(), service="cart"),
        tracing.handling(service="cart", event_type="CartItemAdded"),
    ):
        stamped = tracing.current_traceparent()
    publish, header = tracing.start_publish(
        stamped, service="cart", topic="orders", event_type="OrderPlaced"
    )
    assert publish is not None
    publish.end()

    consume, handle, published = sorted(spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert {s.context.trace_id for s in (consume, handle, published)} == {int(TRACE_ID, 16)}
    assert consume.parent is not None
    assert consume.parent.span_id == 0x00F067AA0BA902B7, "a child of the storefront's span"
    assert consume.kind is SpanKind.CONSUMER
    assert handle.parent is not None
    assert handle.parent.span_id == consume.context.span_id
    assert stamped == f"00-{TRACE_ID}-{handle.context.span_id:016x}-01", "rows get the handle span"
    assert published.parent is not None
    assert published.parent.span_id == handle.context.span_id
    assert published.kind is SpanKind.PRODUCER
    assert header == f"00-{TRACE_ID}-{published.context.span_id:016x}-01"
    assert consume.attributes is not None
    assert consume.attributes["orderflow.correlation_id"] == "journey-1"
    assert consume.attributes["messaging.kafka.offset"] == 7


def test_a_record_without_trace_context_starts_a_trace(spans: InMemorySpanExporter) -> None:
    for headers in ([], [("traceparent", b"00-nonsense")]):
        with tracing.consuming(record(headers), envelope(), service="cart"):
            assert tracing.current_traceparent() is not None
    first, second = spans.get_finished_spans()
    assert first.parent is None
    assert second.parent is None
    assert first.context.trace_id != second.context.trace_id


def test_a_row_without_trace_context_is_published_without_one(
    spans: InMemorySpanExporter,
) -> None:
    assert tracing.start_publish(None, service="s", topic="t", event_type=None) == (None, None)
    assert spans.get_finished_spans() == ()


def test_generated_ids_never_read_as_a_card_number(monkeypatch: pytest.MonkeyPatch) -> None:
    card_like = int("4111111111111111" + "a" * 16, 16)
    safe = uuid.uuid4().int | (0xA << 124)  # starts with a letter: no long digit run there
    drawn = iter([card_like, card_like, safe])
    monkeypatch.setattr(RandomIdGenerator, "generate_trace_id", lambda _: next(drawn))
    assert contains_card_number(f"{card_like:032x}"), "the set-up: a card-like trace id"
    trace_id = tracing.CardSafeIdGenerator().generate_trace_id()
    assert trace_id == safe
    span_ids = iter([0x4111111111111111, 0x00F067AA0BA902B7])
    monkeypatch.setattr(RandomIdGenerator, "generate_span_id", lambda _: next(span_ids))
    assert tracing.CardSafeIdGenerator().generate_span_id() == 0x00F067AA0BA902B7


def test_otlp_export_is_set_up_only_when_its_endpoint_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(tracing.ENDPOINT_VARIABLE, raising=False)
    assert tracing.configure_from_environment("cart") is None
    assert not tracing.enabled()
    monkeypatch.setenv(tracing.ENDPOINT_VARIABLE, "http://127.0.0.1:9")
    shutdown = tracing.configure_from_environment("cart")
    assert shutdown is not None
    try:
        assert tracing.enabled()
    finally:
        shutdown()
    assert not tracing.enabled()

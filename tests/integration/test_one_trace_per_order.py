"""One checkout, one trace: the four services in-process on their own topics and database,
traced with the OpenTelemetry SDK's in-memory exporter.

A checkout that arrives with the storefront's ``traceparent`` continues the storefront's
trace; one without starts a trace when cart consumes it. Either way every span the order
causes, in cart, payment, fulfillment and returns, belongs to that one trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from orderflow_chassis.testing import recorded_spans
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.hostile.system import four_services, journey, new_run_id, stock_count
from tests.support.kafka_tools import eventually
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration

SERVICES = {"cart", "payment", "fulfillment", "returns"}
STOREFRONT_TRACE = "0af7651916cd43dd8448eb211c80319c"
STOREFRONT_SPAN = "b7ad6b7169203331"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


def attribute(span: ReadableSpan, name: str) -> str | None:
    value = (span.attributes or {}).get(name)
    return None if value is None else str(value)


def spans_of(exporter: InMemorySpanExporter, correlation_id: str) -> list[ReadableSpan]:
    """The consume spans of one journey, and every span in the traces they belong to."""
    finished = exporter.get_finished_spans()
    traces = {
        span.context.trace_id
        for span in finished
        if attribute(span, "orderflow.correlation_id") == correlation_id
    }
    return [span for span in finished if span.context.trace_id in traces]


def services_in(spans: Sequence[ReadableSpan]) -> set[str]:
    return {s for s in (attribute(span, "orderflow.service") for span in spans) if s}


async def publish(
    producer: AIOKafkaProducer,
    prefix: str,
    envelopes: Sequence[Envelope],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    for envelope in envelopes:
        await producer.send_and_wait(
            prefix + type(envelope.parse_event()).topic,
            envelope.to_bytes(),
            key=envelope.key,
            headers=headers,
        )


async def test_one_checkout_yields_one_trace_across_the_four_services(
    infrastructure: Infrastructure, spans: InMemorySpanExporter
) -> None:
    run = new_run_id()
    traced, untraced = journey(0, run), journey(1, run)
    assert traced.approved
    assert untraced.approved
    prefix = unique_prefix("trace")
    async with four_services(infrastructure, prefix) as system:
        producer = AIOKafkaProducer(bootstrap_servers=system.kafka, acks="all")
        await producer.start()
        try:
            await publish(producer, prefix, [stock_count(run)])
            for order in (traced, untraced):
                await publish(producer, prefix, order.envelopes[:-1])  # the cart, untraced
            storefront = f"00-{STOREFRONT_TRACE}-{STOREFRONT_SPAN}-01"
            await publish(
                producer, prefix, traced.envelopes[-1:], [("traceparent", storefront.encode())]
            )
            await publish(producer, prefix, untraced.envelopes[-1:])
        finally:
            await producer.stop()

        for order in (traced, untraced):
            reached = await eventually(
                _services_reached(spans, order.correlation_id),
                lambda found: found == SERVICES,
                timeout_s=120,
            )
            assert reached == SERVICES, f"{order.cart_id}'s trace reached only {reached}"
        lagging = await system.wait_caught_up(120)
        assert not lagging, f"still behind: {lagging}"

    checkout_trace = _checkout_trace(spans, traced.correlation_id)
    assert f"{checkout_trace:032x}" == STOREFRONT_TRACE, "the storefront's trace goes on"
    _assert_one_trace(spans, traced.correlation_id, checkout_trace)
    _assert_one_trace(
        spans, untraced.correlation_id, _checkout_trace(spans, untraced.correlation_id)
    )

    root = [
        s
        for s in spans.get_finished_spans()
        if attribute(s, "orderflow.event_type") == "CheckoutRequested"
        and attribute(s, "orderflow.correlation_id") == untraced.correlation_id
        and s.name.startswith("consume")
    ]
    assert root, "cart consumed the untraced checkout"
    assert root[0].parent is None, "an untraced checkout starts its trace when cart consumes it"


def _checkout_trace(exporter: InMemorySpanExporter, correlation_id: str) -> int:
    checkouts = {
        s.context.trace_id
        for s in exporter.get_finished_spans()
        if attribute(s, "orderflow.correlation_id") == correlation_id
        and attribute(s, "orderflow.event_type") == "CheckoutRequested"
    }
    assert len(checkouts) == 1, f"the checkout's consume spans: {checkouts}"
    trace_id: int = checkouts.pop()
    return trace_id


def _assert_one_trace(exporter: InMemorySpanExporter, correlation_id: str, trace_id: int) -> None:
    """Every span the order caused (all events after the checkout) is in ``trace_id``."""
    order_spans = [
        s
        for s in exporter.get_finished_spans()
        if attribute(s, "orderflow.correlation_id") == correlation_id
        and attribute(s, "orderflow.event_type") not in ("CartItemAdded", "CartCurrencySelected")
    ]
    assert {s.context.trace_id for s in order_spans} == {trace_id}, "one trace per order"
    in_trace = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
    assert services_in(in_trace) == SERVICES
    kinds = {s.name.split(" ")[0] for s in in_trace}
    assert {"consume", "handle", "publish"} <= kinds
    by_id = {s.context.span_id: s for s in in_trace}
    orphans = [
        s.name
        for s in in_trace
        if s.parent is not None
        and s.parent.span_id not in by_id
        and f"{s.parent.span_id:016x}" != STOREFRONT_SPAN
    ]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"


def _services_reached(
    exporter: InMemorySpanExporter, correlation_id: str
) -> Callable[[], Awaitable[set[str]]]:
    async def reached() -> set[str]:
        return services_in(spans_of(exporter, correlation_id))

    return reached

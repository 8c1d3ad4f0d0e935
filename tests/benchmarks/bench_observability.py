"""What metrics and tracing add per record, measured in-process; prints figures.

Times the code the consumer runs per record or per batch for lag, handler latency and trace
context: tracing off (the default: no SDK), off with a ``traceparent`` passed on, and on (the
SDK with a span processor that drops spans, so only the chassis' and the SDK's own work is
measured, not an exporter's).

Run: ``uv run python -m tests.benchmarks.bench_observability``. Nothing here asserts a speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import ConsumerRecord, TopicPartition
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from orderflow_chassis import metrics, tracing
from orderflow_chassis.consumer_lag import LagTracker
from orderflow_chassis.consumer_records import next_offsets
from orderflow_contracts.envelope import Envelope

from tests.support.events import cart_item_added

PARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
HEADERS = [("content-type", b"application/json"), ("event_type", b"CartItemAdded")]


class _Partitions:
    def __init__(self, partitions: int) -> None:
        self._highwater = {TopicPartition("orders", p): 1_000_000 for p in range(partitions)}

    def assignment(self) -> set[TopicPartition]:
        return set(self._highwater)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self._highwater[partition]


def record(offset: int, headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(
        topic="orders",
        partition=offset % 3,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=headers,
    )


def per_call_us(work: Callable[[], object], calls: int = 20_000) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            work()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def trace_one(item: ConsumerRecord, envelope: Envelope) -> str | None:
    with (
        tracing.consuming(item, envelope, service="bench"),
        tracing.handling(service="bench", event_type=envelope.event_type),
    ):
        return tracing.current_traceparent()


def main() -> None:
    envelope = cart_item_added("cart-1", sku="SKU-001")
    plain = record(7, HEADERS)
    traced = record(7, [*HEADERS, ("traceparent", PARENT)])
    batch = [record(offset, HEADERS) for offset in range(100)]
    tracker = LagTracker("bench", "bench-group")
    kafka = _Partitions(3)
    histogram = metrics.HANDLER_SECONDS.labels("bench", "CartItemAdded")

    figures = {
        "lag: one poll of 3 partitions, 100 records": per_call_us(
            lambda: tracker.polled(kafka, batch), 2_000
        ),
        "lag: one applied batch of 100 records": per_call_us(
            lambda: tracker.applied(next_offsets(batch)), 2_000
        ),
        "handler latency: 2 clock reads + observe": per_call_us(
            lambda: histogram.observe(time.perf_counter() - time.perf_counter())
        ),
        "tracing off, no traceparent": per_call_us(lambda: trace_one(plain, envelope)),
        "tracing off, traceparent passed on": per_call_us(lambda: trace_one(traced, envelope)),
    }
    provider = TracerProvider(id_generator=tracing.CardSafeIdGenerator())
    provider.add_span_processor(SpanProcessor())  # spans made, then dropped
    tracing.install(provider)
    try:
        figures["tracing on: consume + handle spans"] = per_call_us(
            lambda: trace_one(traced, envelope), 5_000
        )
        figures["tracing on: publish span + header"] = per_call_us(
            lambda: _publish_once(PARENT.decode()), 5_000
        )
    finally:
        tracing.install(None)
    width = max(map(len, figures))
    for name, micros in figures.items():
        print(f"{name:<{width}}  {micros:8.2f} µs")


def _publish_once(parent: str) -> None:
    span, _ = tracing.start_publish(parent, service="bench", topic="orders", event_type="E")
    if span is not None:
        span.end()


if __name__ == "__main__":
    main()

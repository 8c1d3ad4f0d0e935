"""One OpenTelemetry trace per order: W3C trace context carried through outbox rows and Kafka.

The storefront may send ``CheckoutRequested`` with a ``traceparent`` header; if it does not,
the trace starts when cart consumes it. From there every record carries the context on:

* the consumer opens a *consume* span per record, a child of the record's ``traceparent``
  (or a new trace's root), and a *handle* span around the handler;
* whatever the handler emits stores the handle span's context in its outbox row
  (``outbox.traceparent``, written in the same transaction);
* the relay opens a *publish* span, a child of the stored context, and sends its context as
  the record's ``traceparent`` header; the next consumer continues from there.

Off by default, at the cost of reading one header per record: no SDK is set up, so no span
is made, and a ``traceparent`` that arrives is passed on as it is (a service without tracing
does not cut the trace). :func:`configure_from_environment` sets up the SDK, exporting over
OTLP/HTTP, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; tests :func:`install` a provider of
their own (e.g. with the SDK's in-memory exporter).

Hostile input: a ``traceparent`` that is not W3C-valid (or too long, not UTF-8, or sent
twice) is ignored and the record handled as if it had none. It never stalls or dead-letters
an event. Card numbers: the header is screened like every other one before the record is
decoded, and the ids this SDK set-up generates never hold a digit run that looks like a card
number (:class:`CardSafeIdGenerator`), so no published ``traceparent`` can carry one.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Final

from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from orderflow_contracts.card_data import contains_card_number
from orderflow_contracts.envelope import Envelope

TRACEPARENT: Final = "traceparent"
# A version-00 traceparent is 55 characters; later versions may append fields. Anything far
# longer is not a trace context, and is not parsed.
MAX_TRACEPARENT_CHARS: Final = 512
ENDPOINT_VARIABLE: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"

_propagator = TraceContextTextMapPropagator()
# A version-00 trace context exactly as the propagator formats one; all-zero ids are invalid.
_CANONICAL: Final = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_ZERO_TRACE_ID: Final = "0" * 32
_ZERO_SPAN_ID: Final = "0" * 16
_tracer: Tracer | None = None
# The trace context new outbox rows are stamped with: the span being handled, or (tracing
# off) the context the record arrived with.
_current: ContextVar[str | None] = ContextVar("orderflow_traceparent", default=None)


class CardSafeIdGenerator(RandomIdGenerator):
    """Random ids whose hex form holds no digit run a card-number screen would refuse."""

    def generate_span_id(self) -> int:
        while True:
            span_id = super().generate_span_id()
            if not contains_card_number(f"{span_id:016x}"):
                return span_id

    def generate_trace_id(self) -> int:
        while True:
            trace_id = super().generate_trace_id()
            if not contains_card_number(f"{trace_id:032x}"):
                return trace_id


def install(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (``None``: tracing off again)."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer("orderflow_chassis")


def enabled() -> bool:
    return _tracer is not None


def configure_from_environment(service: str) -> Callable[[], None] | None:
    """Set up the SDK with an OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
    (the exporter reads its other ``OTEL_EXPORTER_OTLP_*`` variables itself) and no provider
    was installed; returns the shutdown that flushes the last spans, or None."""
    if not os.environ.get(ENDPOINT_VARIABLE) or enabled():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), id_generator=CardSafeIdGenerator()
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)

    def shutdown() -> None:
        install(None)
        provider.shutdown()

    return shutdown


def incoming_traceparent(headers: Sequence[tuple[str, bytes | None]] | None) -> str | None:
    """The record's W3C trace context, canonical; None when absent or invalid (ignored)."""
    found = [value for name, value in headers or () if name == TRACEPARENT]
    if len(found) != 1 or not found[0] or len(found[0]) > MAX_TRACEPARENT_CHARS:
        return None
    try:
        text = bytes(found[0]).decode("ascii")
    except UnicodeDecodeError:
        return None
    if _CANONICAL.fullmatch(text) and text[3:35] != _ZERO_TRACE_ID and text[36:52] != _ZERO_SPAN_ID:
        # Already what the propagator would give back (most records: another service's
        # outbox wrote it); parsing and formatting it again cost ~20 us a record.
        return None if contains_card_number(text) else text
    context = _propagator.extract({TRACEPARENT: text})
    return _format(trace.get_current_span(context))


def current_traceparent() -> str | None:
    """The trace context to stamp on an outbox row written now (None: not traced)."""
    return _current.get()


def _format(span: Span) -> str | None:
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    value = carrier.get(TRACEPARENT)
    # A foreign provider's ids are random: never publish one that reads as a card number.
    return None if value is None or contains_card_number(value) else value


def _parent(traceparent: str | None) -> Context | None:
    return None if traceparent is None else _propagator.extract({TRACEPARENT: traceparent})


@contextlib.contextmanager
def consuming(record: ConsumerRecord, envelope: Envelope, *, service: str) -> Iterator[None]:
    """Around applying one record: a consume span continuing the record's trace context."""
    parent = incoming_traceparent(record.headers)
    if _tracer is None:
        token = _current.set(parent)  # passed on as it came
        try:
            yield
        finally:
            _current.reset(token)
        return
    with _tracer.start_as_current_span(
        f"consume {envelope.event_type}",
        context=_parent(parent),
        kind=SpanKind.CONSUMER,
        attributes={
            "orderflow.service": service,
            "orderflow.correlation_id": envelope.correlation_id,
            "orderflow.event_id": str(envelope.event_id),
            "orderflow.event_type": envelope.event_type,
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    ) as span:
        token = _current.set(_format(span))
        try:
            yield
        finally:
            _current.reset(token)


@contextlib.contextmanager
def handling(*, service: str, event_type: str) -> Iterator[None]:
    """Around one handler call: a handle span, whose context the events it emits carry."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(
        f"handle {event_type}",
        attributes={"orderflow.service": service, "orderflow.event_type": event_type},
    ) as span:
        token = _current.set(_format(span))
        try:
            yield
        finally:
            _current.reset(token)


def start_publish(
    traceparent: str | None, *, service: str, topic: str, event_type: str | None
) -> tuple[Span | None, str | None]:
    """A publish span for one outbox row, and the ``traceparent`` header to send with it:
    the span's context, or (tracing off) the row's own. The caller ends the span once Kafka
    acknowledged the record."""
    if _tracer is None or traceparent is None:
        return None, traceparent
    span = _tracer.start_span(
        f"publish {event_type or topic}",
        context=_parent(traceparent),
        kind=SpanKind.PRODUCER,
        attributes={
            "orderflow.service": service,
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
        },
    )
    return span, _format(span) or traceparent

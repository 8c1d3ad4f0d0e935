"""With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, a service exports its spans over OTLP/HTTP: a
running service (in-process, real Kafka and PostgreSQL) sends them to a collector stand-in."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from orderflow_chassis import tracing
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, publish_raw, unique_topic
from tests.support.probe_service import probe_definition, probe_settings

pytestmark = pytest.mark.integration


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:  # quiet
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_are_exported_over_otlp_when_an_endpoint_is_set(
    infrastructure: Infrastructure,
    collector: tuple[str, list[tuple[str, bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint, received = collector
    monkeypatch.setenv(tracing.ENDPOINT_VARIABLE, endpoint)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_COMPRESSION", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("otlp")
    await create_topics(kafka, [topic])
    event = cart_item_added("cart-otlp", sku="SKU-001")
    await publish_raw(kafka, topic, [(b"cart-otlp", event.to_bytes())])

    runtime = ServiceRuntime(
        probe_definition("probe_a", in_topics=[topic], group=f"otlp-{uuid.uuid4().hex[:8]}"),
        probe_settings(
            "probe_a", database_url=infrastructure.service_database_urls["probe_a"], kafka=kafka
        ),
    )
    await runtime.start()
    try:
        assert tracing.enabled(), "the endpoint turned tracing on"

        async def applied() -> int:
            count: int = await runtime.pool.fetchval(
                "SELECT count(*) FROM effects WHERE event_id = $1", event.event_id
            )
            return count

        assert await eventually(applied, lambda n: n == 1, timeout_s=60) == 1
    finally:
        await runtime.stop()  # flushes the spans
    assert not tracing.enabled(), "off again once the service stopped"

    exported = []
    for path, body in received:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}.get(
                "service.name"
            )
            for scope in resource_spans.scope_spans:
                exported += [(service, span.name) for span in scope.spans]
    assert ("probe_a", "consume CartItemAdded") in exported
    assert ("probe_a", "handle CartItemAdded") in exported

"""A service started on a port found free is ready only when the answer there names it: the
port may be taken before the service binds it, and another run's service then answers ready
while this one fails to start. Seen in CI: a returns service that never bound its port was
taken for ready, and the test waited a minute for refunds nobody processed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from orderflow_ops.system import LOCAL_PORTS, ServiceProcess, free_local_port, free_port_block


@pytest.fixture
def answering() -> Iterator[tuple[int, dict[str, object]]]:
    """A server on a free port answering /health/ready with the body the test sets."""
    body: dict[str, object] = {}

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_local_port()), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], body
    finally:
        server.shutdown()
        server.server_close()


def test_ready_only_when_the_answer_names_the_service(
    answering: tuple[int, dict[str, object]], tmp_path: Path
) -> None:
    port, body = answering
    returns = ServiceProcess("returns", port, tmp_path / "returns.log")
    body.update(status="ok", service="cart")  # another service took the port
    assert not returns.is_ready()
    body.update(service="returns")
    assert returns.is_ready()
    body.update(status="unavailable")
    assert not returns.is_ready()
    body.clear()
    assert not returns.is_ready()


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    ports = {free_local_port() for _ in range(20)}
    assert all(port in LOCAL_PORTS for port in ports)
    assert len(ports) > 1, "picked at random, so that runs side by side rarely meet"


def test_a_port_is_handed_out_once_even_when_picked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # A run starts its services together: a port handed to two of them, one could not start.
    monkeypatch.setattr("orderflow_ops.system._handed_out", set())
    first, second = _ports_free_now(2)
    picks = iter([first, first, first, second])
    monkeypatch.setattr("orderflow_ops.system.secrets.choice", lambda _: next(picks))
    assert [free_local_port(), free_local_port()] == [first, second]


def test_a_port_of_a_block_handed_out_is_not_handed_out_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("orderflow_ops.system._handed_out", set())
    first = free_port_block(3)
    [other] = _ports_free_now(1)
    picks = iter([first + 1, other])
    monkeypatch.setattr("orderflow_ops.system.secrets.choice", lambda _: next(picks))
    assert free_local_port() == other


def _ports_free_now(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()

"""A service started on a port found free is ready only when the answer there names it: the
port may be taken before the service binds it, and another run's service then answers ready
while this one fails to start. Seen in CI: a returns service that never bound its port was
taken for ready, and the test waited a minute for refunds nobody processed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from orderflow_ops.local_ports import free_local_port
from orderflow_ops.system import ServiceProcess


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

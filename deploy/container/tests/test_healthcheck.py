"""The image's healthcheck script: which URL it asks, and its verdicts."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType

import pytest

CONTAINER_DIR = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", CONTAINER_DIR / "healthcheck.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


def test_the_service_port_variable_picks_the_url() -> None:
    url = healthcheck.health_url({"CART_HTTP_PORT": "8001", "LOG_LEVEL": "INFO"})
    assert url == "http://127.0.0.1:8001/health/ready"


def test_an_explicit_url_wins() -> None:
    environ = {"CART_HTTP_PORT": "8001", "ORDERFLOW_HEALTHCHECK_URL": "http://127.0.0.1:9/x"}
    assert healthcheck.health_url(environ) == "http://127.0.0.1:9/x"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "found: none"),
        ({"CART_HTTP_PORT": "1", "PAYMENT_HTTP_PORT": "2"}, "CART_HTTP_PORT, PAYMENT_HTTP_PORT"),
        ({"CART_HTTP_PORT": "http"}, "is not a TCP port"),
    ],
)
def test_an_unknown_port_is_an_error_that_says_what_to_set(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        healthcheck.health_url(environ)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/ready" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_the_verdict_follows_readiness(
    server: HTTPServer, monkeypatch: pytest.MonkeyPatch, status: int, exit_code: int
) -> None:
    monkeypatch.setattr(_Health, "status", status)
    monkeypatch.setattr(
        healthcheck.os, "environ", {"RETURNS_HTTP_PORT": str(server.server_address[1])}
    )
    assert healthcheck.main() == exit_code


def test_nothing_listening_is_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(healthcheck.os, "environ", {"RETURNS_HTTP_PORT": "1"})
    assert healthcheck.main() == 1

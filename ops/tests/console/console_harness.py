"""The ops console run in-process on a test's own topic prefix, and a signed-in HTTP client."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from orderflow_chassis.http_guard import install_http_guards
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.examples import example_event
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_ops.console.app import ConsoleService, build_console
from orderflow_ops.console.auth import SessionSigner, parse_users
from orderflow_ops.console.live import LiveStatus
from orderflow_ops.console.settings import ConsoleSettings
from orderflow_ops.console.web_common import Console, template_environment
from orderflow_ops.console.web_login import login_router

from tests.support.service_harness import service_settings

USERS = "op:operator:op-secret-1,view:viewer:view-secret-2"
LONG_AGO = datetime.now(UTC) - timedelta(hours=1)
_CSRF = re.compile(r'name="csrf_token" value="([a-p]+)"')
_REPLAY_ID = re.compile(r'name="replay_id" value="([0-9a-f-]+)"')


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningConsole:
    runtime: ServiceRuntime
    service: ConsoleService
    prefix: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.http_port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30.0, follow_redirects=False)

    @asynccontextmanager
    async def signed_in(self, name: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.client() as client:
            form = await client.get("/login")
            answer = await client.post(
                "/login",
                data={"username": name, "password": password, "csrf_token": csrf_token(form.text)},
            )
            assert answer.status_code == 303, answer.text
            yield client


@asynccontextmanager
async def running_console(
    infrastructure: Infrastructure, prefix: str, **options: Any
) -> AsyncIterator[RunningConsole]:
    """The console on its own fresh database (its read model starts empty) and ``prefix``."""
    async with (
        isolated_database(infrastructure, "console", services=["console"]) as isolated,
        console_on(isolated, prefix, **options) as console,
    ):
        yield console


@asynccontextmanager
async def console_on(
    infrastructure: Infrastructure, prefix: str, **options: Any
) -> AsyncIterator[RunningConsole]:
    """The console on ``infrastructure``'s database as it is (several may share one)."""
    settings = service_settings(infrastructure, "console", topic_prefix=prefix)
    values: dict[str, Any] = {
        "users": USERS,
        "services": f"cart=http://127.0.0.1:{closed_port()}",
        "probe_interval_s": 0.5,
        "monitor_interval_s": 0.5,
    }
    console_settings = ConsoleSettings(**{**values, **options})
    service = build_console(settings, console_settings)
    runtime = ServiceRuntime(service.definition, settings, hooks=service.hooks)
    await runtime.start()
    try:
        yield RunningConsole(runtime, service, prefix)
    finally:
        await runtime.stop()


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page carries no CSRF token"
    return found[1]


def replay_id(confirmation: httpx.Response) -> dict[str, str]:
    """The replay id field of a confirmation page's form (posting it confirms that replay)."""
    found = _REPLAY_ID.search(confirmation.text)
    assert found is not None, "the page confirms no replay"
    return {"replay_id": found[1]}


def envelope(
    event_type: str, minutes: float = 0, *, cause: Envelope | None = None, **data: object
) -> Envelope:
    event: Event = example_event(event_type)
    if data:
        event = type(event).model_validate({**event.model_dump(mode="json"), **data})
    return Envelope.wrap(
        event,
        producer="test",
        correlation_id="journey",
        causation_id=str(cause.event_id) if cause else None,
        occurred_at=LONG_AGO + timedelta(minutes=minutes),
    )


def captured_order(order_id: str, cart_id: str) -> list[Envelope]:
    """A checkout that became an order, authorised, reserved and captured: it then waits for
    its shipment (an hour ago, so it is past a short shipment SLA)."""
    request = envelope("CheckoutRequested", 0, cart_id=cart_id)
    payment_id = str(uuid.uuid4())  # the examples share one; orders must not
    placed = envelope("OrderPlaced", 1, cause=request, cart_id=cart_id, order_id=order_id)
    return [
        request,
        envelope("CartCheckedOut", 1, cause=request, cart_id=cart_id, order_id=order_id),
        placed,
        envelope("PaymentAuthorized", 2, cause=placed, order_id=order_id, payment_id=payment_id),
        envelope("StockReserved", 2, cause=placed, order_id=order_id),
        envelope("PaymentCaptured", 3, cause=placed, order_id=order_id, payment_id=payment_id),
    ]


@asynccontextmanager
async def login_pages(*, guarded: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console's login pages alone (they need neither Kafka nor the read
    model), behind the HTTP guard as the console serves them when ``guarded``."""
    console = Console(
        settings=ServiceSettings.model_construct(),
        console_settings=ConsoleSettings(users=USERS),
        status=LiveStatus(),
        users=parse_users(USERS),
        signer=SessionSigner("test-key"),
        templates=template_environment(),
    )
    app = FastAPI()
    app.include_router(login_router(console))
    if guarded:
        install_http_guards(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client

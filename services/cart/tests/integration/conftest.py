"""A cart service running in-process against the real Kafka and PostgreSQL, per test module;
and a connection to the migrated cart schema, for tests that drive its handlers directly."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from orderflow_cart.adapters import sql_repositories
from orderflow_cart.bootstrap import build_definition, cart_migrations
from orderflow_cart.ports import CartRepositories
from orderflow_cart.settings import CartSettings
from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.unit_of_work import Emitter, UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_localinfra.discovery import Infrastructure

from services.cart.tests.integration.storefront import Storefront
from tests.support.kafka_tools import eventually
from tests.support.service_harness import running_service, service_settings, unique_prefix

SCHEMA = "cart"


@pytest_asyncio.fixture
async def connection(
    orderflow_infrastructure: Infrastructure,
) -> AsyncIterator[asyncpg.Connection]:
    opened = await connect(orderflow_infrastructure.service_database_urls["cart"], schema=SCHEMA)
    try:
        await migrate_service(opened, SCHEMA, cart_migrations())
        yield opened
    finally:
        await opened.close()


async def never_emits(event: Event, **_: object) -> None:
    raise AssertionError(f"the handler emitted {event.event_type}")


def unit(
    connection: asyncpg.Connection, cause: Envelope | None = None, emitter: Emitter = never_emits
) -> UnitOfWork[CartRepositories]:
    """A unit of work on ``connection``, as the consumer gives each record (by default it
    emits nothing)."""
    return UnitOfWork(
        sql_repositories(SCHEMA)(connection),
        datetime.now(UTC),
        emitter,
        cause,
        savepoint=functools.partial(database_part, connection),
    )


@asynccontextmanager
async def database_part(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """A part of a unit that undoes what it wrote (not what it emitted: ``emitter`` keeps it)."""
    async with connection.transaction():  # in the test's transaction: a savepoint
        yield


@dataclass
class RunningCart:
    runtime: ServiceRuntime
    storefront: Storefront
    infrastructure: Infrastructure
    prefix: str
    http: httpx.AsyncClient
    clock: Clock

    async def cart(self, cart_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/carts/{cart_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def cart_when(
        self, cart_id: str, accept: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll GET /carts/{cart_id} until the cart exists and ``accept`` holds; return it."""

        async def probe() -> dict[str, Any] | None:
            response = await self.http.get(f"/carts/{cart_id}")
            return response.json() if response.status_code == 200 else None

        view = await eventually(probe, lambda found: found is not None and accept(found))
        assert view is not None, f"cart {cart_id} never appeared"
        return view


@pytest_asyncio.fixture(scope="module")
async def cart_service(
    request: Any, orderflow_infrastructure: Infrastructure
) -> AsyncIterator[RunningCart]:
    """The cart service with the module's ``CART_OVERRIDES`` and ``CLOCK`` (if any)."""
    prefix = unique_prefix("cart")
    settings = service_settings(orderflow_infrastructure, "cart", topic_prefix=prefix)
    cart_settings = CartSettings(**getattr(request.module, "CART_OVERRIDES", {}))
    clock: Clock = getattr(request.module, "CLOCK", None) or SystemClock()
    definition = build_definition(settings, clock=clock, cart_settings=cart_settings)
    async with (
        running_service(definition, settings) as runtime,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as http,
    ):
        yield RunningCart(
            runtime=runtime,
            storefront=Storefront(orderflow_infrastructure, prefix),
            infrastructure=orderflow_infrastructure,
            prefix=prefix,
            http=http,
            clock=clock,
        )

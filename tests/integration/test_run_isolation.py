"""Runs that share a server never act on each other's rows.

A periodic job acts on every row of its schema. Two runs of the same services told apart only
by topic prefix would share schemas, and the second run's jobs would report the first run's
carts (or expire its reservations) onto the second run's topics, where its other services
dead-letter them. A run of whole services therefore gets a database of its own
(``orderflow_localinfra.isolation.isolated_database``), dropped when the run ends even while a
session the admin may not end (an autovacuum worker) is still there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg
import pytest
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.settings import CartSettings
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartAbandoned
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.dsn import with_credentials, with_database
from orderflow_localinfra.isolation import drop_database, isolated_database

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, read_topic
from tests.support.service_harness import (
    caught_up,
    publish_envelopes,
    running_service,
    service_settings,
    unique_prefix,
)

pytestmark = pytest.mark.integration


@asynccontextmanager
async def cart_run(
    infrastructure: Infrastructure, label: str, *, abandon_after_s: float
) -> AsyncIterator[tuple[ServiceRuntime, str, Infrastructure]]:
    prefix = unique_prefix(label)
    await create_topics(
        infrastructure.kafka_bootstrap_servers, [prefix + t for t in topics.ALL_TOPICS]
    )
    async with isolated_database(infrastructure, label, services=["cart"]) as own:
        settings = service_settings(own, "cart", topic_prefix=prefix)
        cart_settings = CartSettings(abandon_after_s=abandon_after_s, abandon_sweep_interval_s=0.2)
        definition = build_definition(settings, cart_settings=cart_settings)
        async with running_service(definition, settings) as runtime:
            yield runtime, prefix, own


async def test_a_job_of_one_run_never_reports_another_runs_cart(
    infrastructure: Infrastructure,
) -> None:
    earlier = cart_item_added("cart-of-the-earlier-run", sku="MB-PEANUT")
    later = cart_item_added("cart-of-the-later-run", sku="MB-PEANUT")
    # The earlier run leaves an idle cart behind; its own sweep would wait an hour.
    async with cart_run(infrastructure, "earlier", abandon_after_s=3600) as (first, prefix, own):
        await publish_envelopes(own, prefix, [earlier])
        await caught_up(first)
        # The later run reports every cart idle for a second, as often as it can.
        async with cart_run(infrastructure, "later", abandon_after_s=1) as (second, p2, own2):
            await publish_envelopes(own2, p2, [later])
            await caught_up(second)

            async def abandoned() -> list[str]:
                records = await read_topic(
                    own2.kafka_bootstrap_servers, p2 + topics.CARTS, expect=1, timeout_s=1
                )
                events = [Envelope.from_bytes(record.value).parse_event() for record in records]
                return [e.cart_id for e in events if isinstance(e, CartAbandoned)]

            reported = await eventually(abandoned, lambda ids: bool(ids), timeout_s=20)
            await asyncio.sleep(1)  # several more sweeps
            reported = await abandoned()
    assert reported == ["cart-of-the-later-run"], "the later run's sweep saw only its own carts"


@asynccontextmanager
async def outsider_role(infrastructure: Infrastructure) -> AsyncIterator[tuple[str, str]]:
    """A login role the admin is no member of, so the admin may not end its sessions: what an
    autovacuum worker, or another role's session still closing, is to ``DROP ... (FORCE)``."""
    role, password = f"outsider_{uuid.uuid4().hex[:8]}", "outsider-password"
    admin = await asyncpg.connect(infrastructure.admin_database_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        try:
            yield role, password
        finally:
            await admin.execute(f"DROP ROLE {role}")
    finally:
        await admin.close()


async def session_as(database_url: str, role: tuple[str, str]) -> asyncpg.Connection:
    name, password = role
    database = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {name}')
    finally:
        await admin.close()
    return await asyncpg.connect(with_credentials(database_url, user=name, password=password))


async def database_exists(infrastructure: Infrastructure, name: str) -> bool:
    admin = await asyncpg.connect(infrastructure.admin_database_url)
    try:
        return bool(await admin.fetchval("SELECT true FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


async def test_the_drop_waits_out_a_session_the_admin_may_not_end(
    infrastructure: Infrastructure,
) -> None:
    async with outsider_role(infrastructure) as role:
        async with isolated_database(infrastructure, "lingering", services=["cart"]) as own:
            name = urlsplit(own.admin_database_url).path.lstrip("/")
            session = await session_as(own.admin_database_url, role)

            async def end_shortly() -> None:
                await asyncio.sleep(1.5)
                await session.close()

            # The session ends a moment after the run does, as an autovacuum pass would.
            ending = asyncio.create_task(end_shortly())
        assert session.is_closed(), "the drop returned while the session was still there"
        await ending
        assert not await database_exists(infrastructure, name)


async def test_a_session_that_never_ends_is_named_in_the_error(
    infrastructure: Infrastructure,
) -> None:
    async with outsider_role(infrastructure) as role:
        name = f"orderflow_run_stuck_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(infrastructure.admin_database_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = with_database(infrastructure.admin_database_url, name)
        session = await session_as(url, role)
        try:
            with pytest.raises(RuntimeError, match=f"role {role[0]}"):
                await drop_database(infrastructure.admin_database_url, name, patience_s=1)
        finally:
            await session.close()
            await drop_database(infrastructure.admin_database_url, name)
        assert not await database_exists(infrastructure, name)


async def test_runs_provisioned_at_once_in_several_databases_all_start(
    infrastructure: Infrastructure,
) -> None:
    # Every database's provisioning updates the same server-wide role rows; PostgreSQL refuses
    # a second concurrent writer of one ("tuple concurrently updated"), and the per-database
    # advisory lock cannot keep runs in different databases apart.
    async def one_run(index: int) -> None:
        async with isolated_database(infrastructure, f"parallel {index}"):
            pass

    for _ in range(3):
        await asyncio.gather(*(one_run(index) for index in range(6)))

"""Order status across instances and transactions, on real Kafka and PostgreSQL: a feed served
by an instance that applies nothing, a feed whose LISTEN session is killed, feeds woken by a
lost listener, and two transactions storing one order's first event at once."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from orderflow_cart.adapters import sql_repositories
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.order_status.adapters.changes import ChangeSignal, StatusChanges
from orderflow_cart.order_status.domain.facts import apply
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.domain.view import order_view
from orderflow_cart.settings import CartSettings
from orderflow_contracts.envelope import Envelope
from pydantic import SecretStr

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.order_status_client import (
    API_TOKEN,
    AUTH,
    StatusFeed,
    collapsed,
    order_when,
)
from services.cart.tests.order_events import OrderJourney, envelopes
from tests.support.service_harness import publish_envelopes, running_service

pytestmark = pytest.mark.integration

CART_OVERRIDES = {"storefront_api_token": API_TOKEN}


async def publish(cart: RunningCart, *applied: Envelope) -> None:
    await publish_envelopes(cart.infrastructure, cart.prefix, list(applied))


@asynccontextmanager
async def api_only_instance(cart: RunningCart) -> AsyncIterator[httpx.AsyncClient]:
    """A second instance of the cart on the same database, without consumers, whose feeds
    re-read only hourly: every change it pushes was applied by the first instance and reached
    it through PostgreSQL's NOTIFY."""
    settings = cart.runtime.settings
    cart_settings = CartSettings(
        storefront_api_token=SecretStr(API_TOKEN), order_feed_keep_alive_s=3600
    )
    api_only = dataclasses.replace(
        build_definition(settings, cart_settings=cart_settings), subscriptions=[]
    )
    async with (
        running_service(api_only, settings) as other,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{other.http_port}") as http,
    ):
        yield http


async def test_a_feed_served_by_another_instance_pushes_what_this_one_applied(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("elsewhere")
    applied = envelopes([journey.placed(), journey.authorized(), journey.captured()])
    async with api_only_instance(cart_service) as http:
        await publish(cart_service, applied[0])
        await order_when(http, f"/orders/{journey.order_id}", lambda body: True)
        async with StatusFeed(http, journey.order_id) as feed:
            await publish(cart_service, *applied[1:])
            paid = await feed.wait_for_state("paid")
    assert paid["position"]["last_event_id"] == str(applied[-1].event_id)
    assert collapsed(feed.states) == ["placed", "paid"]


async def test_a_feed_listens_again_after_its_database_session_is_killed(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("relisten")
    applied = envelopes([journey.placed(), journey.captured()])
    admin = await asyncpg.connect(cart_service.infrastructure.admin_database_url)
    try:
        async with api_only_instance(cart_service) as http:
            await publish(cart_service, applied[0])
            await order_when(http, f"/orders/{journey.order_id}", lambda body: True)
            async with StatusFeed(http, journey.order_id) as feed:
                killed = await admin.fetchval(
                    """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND query LIKE 'LISTEN %order_status%'
                    """
                )
                assert killed >= 1
                await publish(cart_service, applied[1])
                paid = await feed.wait_for_state("paid")
    finally:
        await admin.close()
    assert paid["position"]["last_event_id"] == str(applied[1].event_id)


async def test_feeds_woken_by_a_lost_listener_re_read_spread_over_seconds_not_at_once(
    cart_service: RunningCart,
) -> None:
    settings = cart_service.runtime.settings
    changes = StatusChanges(settings.db_schema)
    admin = await asyncpg.connect(cart_service.infrastructure.admin_database_url)
    clock = asyncio.get_running_loop().time
    async with AsyncExitStack() as feeds:
        signals = [
            await feeds.enter_async_context(changes.watch(settings.database_url, uuid.uuid4()))
            for _ in range(20)
        ]

        async def woken(signal: ChangeSignal) -> float:
            assert await signal.wait(30), "never woken"
            return clock()

        listener = changes._connection
        assert listener is not None
        lost_at = clock()
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", listener.get_server_pid())
        finally:
            await admin.close()
        times = [at - lost_at for at in await asyncio.gather(*map(woken, signals))]
    # 20 feeds over 5 s: they would have to wake within a twentieth of it to look simultaneous.
    assert max(times) - min(times) > 1.0, f"woken at {sorted(times)}"
    assert max(times) < 7.0, f"woken at {sorted(times)}"


async def test_two_transactions_storing_an_orders_first_event_at_once_lose_neither(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("race")
    placed, captured = envelopes([journey.placed(), journey.captured()])
    repositories = sql_repositories(cart_service.runtime.settings.db_schema)

    def added(facts: OrderFacts, envelope: Envelope) -> OrderFacts:
        return apply(
            facts,
            envelope.parse_event(),
            occurred_at=envelope.occurred_at,
            event_id=envelope.event_id,
        )

    async def save(statuses: Any, facts: OrderFacts, envelope: Envelope, *, first: bool) -> Any:
        return await statuses.save(
            facts,
            order_view,
            first=first,
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            event_at=envelope.occurred_at,
            applied_at=envelope.occurred_at,
        )

    pool = cart_service.runtime.pool
    async with pool.acquire() as one, pool.acquire() as other:
        first_tx, other_tx = one.transaction(), other.transaction()
        await first_tx.start()
        await other_tx.start()
        mine, theirs = repositories(one).order_status, repositories(other).order_status
        empty = OrderFacts(order_id=journey.order_id)
        # Both see no row yet; one inserts first, the other's insert waits for its commit.
        assert await mine.facts_for_update(journey.order_id) is None
        assert await theirs.facts_for_update(journey.order_id) is None
        assert await save(mine, added(empty, placed), placed, first=True) == 1
        racing = asyncio.create_task(save(theirs, added(empty, captured), captured, first=True))
        await first_tx.commit()
        assert await racing is None  # stored nothing: read again, locked this time
        known = await theirs.facts_for_update(journey.order_id)
        assert known is not None
        assert known.placed is not None
        assert await save(theirs, added(known, captured), captured, first=False) == 2
        await other_tx.commit()

    answer = await cart_service.http.get(f"/orders/{journey.order_id}", headers=AUTH)
    body = answer.json()
    assert (body["state"], body["position"]["version"]) == ("paid", 2)

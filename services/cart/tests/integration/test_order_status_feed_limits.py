"""The limits of the order-status feeds, on real Kafka and PostgreSQL: an instance serves a
bounded number at once (one more is a 503 with Retry-After) and ends each after its lifetime,
cleanly; the client resumes with Last-Event-ID and misses nothing (decision 66)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.settings import CartSettings
from orderflow_contracts.envelope import Envelope
from pydantic import SecretStr

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.order_status_client import (
    API_TOKEN,
    AUTH,
    StatusFeed,
    order_when,
)
from services.cart.tests.order_events import OrderJourney, envelopes
from tests.support.kafka_tools import eventually
from tests.support.service_harness import publish_envelopes, running_service

pytestmark = pytest.mark.integration

CART_OVERRIDES = {"storefront_api_token": API_TOKEN}


async def publish(cart: RunningCart, *applied: Envelope) -> None:
    await publish_envelopes(cart.infrastructure, cart.prefix, list(applied))


@asynccontextmanager
async def api_instance(cart: RunningCart, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another instance of the cart on the same database, serving the API with ``settings``
    (it applies nothing: the module's instance does)."""
    cart_settings = CartSettings(storefront_api_token=SecretStr(API_TOKEN), **settings)
    definition = build_definition(cart.runtime.settings, cart_settings=cart_settings)
    async with (
        running_service(
            dataclasses.replace(definition, subscriptions=[]), cart.runtime.settings
        ) as other,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{other.http_port}") as http,
    ):
        yield http


async def whole_feed(
    http: httpx.AsyncClient, order_id: uuid.UUID, last_event_id: int | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Every (id, status) a feed sends until the server ends it, which it must within 10 s."""
    headers = AUTH if last_event_id is None else {**AUTH, "Last-Event-ID": str(last_event_id)}
    messages: list[tuple[int, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    async with (
        asyncio.timeout(10),
        http.stream("GET", f"/orders/{order_id}/events", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line == "" and "data" in fields:
                messages.append((int(fields["id"]), json.loads(fields["data"])))
                fields = {}
            elif line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
    return messages


async def test_an_instance_serves_so_many_feeds_and_refuses_one_more_with_retry_after(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("feeds-full")
    await publish(cart_service, *envelopes([journey.placed()]))
    async with api_instance(cart_service, order_feed_max_open=2) as http:
        await order_when(http, f"/orders/{journey.order_id}", lambda body: True)
        path = f"/orders/{journey.order_id}/events"
        async with (
            StatusFeed(http, journey.order_id),
            StatusFeed(http, journey.order_id),
            http.stream("GET", path, headers=AUTH) as refused,
        ):
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "10"
            detail = json.loads(await refused.aread())["detail"]
            assert detail.startswith("this instance already serves 2 live feeds: retry after")

        # Closed feeds give their places back; so do feeds refused for an unknown order.
        for _ in range(3):
            unknown = await http.get(f"/orders/{uuid.uuid4()}/events", headers=AUTH)
            assert unknown.status_code == 404

        async def opens() -> int:
            async with http.stream("GET", path, headers=AUTH) as response:
                return response.status_code

        assert await eventually(opens, lambda status: status == 200, timeout_s=30) == 200


async def test_a_feed_ends_after_its_lifetime_and_resumes_from_its_last_event_id(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("feeds-lifetime")
    placed, captured = envelopes([journey.placed(), journey.captured()])
    await publish(cart_service, placed)
    async with api_instance(
        cart_service, order_feed_max_lifetime_s=1.0, order_feed_keep_alive_s=0.3
    ) as http:
        await order_when(http, f"/orders/{journey.order_id}", lambda body: True)

        first = await whole_feed(http, journey.order_id)
        assert [(version, status["state"]) for version, status in first] == [(1, "placed")]

        # Resumed with nothing new: nothing is sent again, and it ends again.
        assert await whole_feed(http, journey.order_id, last_event_id=1) == []

        await publish(cart_service, captured)
        await order_when(http, f"/orders/{journey.order_id}", lambda body: body["state"] == "paid")
        resumed = await whole_feed(http, journey.order_id, last_event_id=1)
        assert [(version, status["state"]) for version, status in resumed] == [(2, "paid")]

        # An id this order never had (another order's, or made up): only keep-alives came,
        # for ever. The status as it is now is sent, as to a client that gives none.
        ahead = await whole_feed(http, journey.order_id, last_event_id=999_999_999)
        assert [(version, status["state"]) for version, status in ahead] == [(2, "paid")]

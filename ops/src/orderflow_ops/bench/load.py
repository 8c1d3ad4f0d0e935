"""The benchmark's storefront: carts checked out over the public contract, as fast as it can
or at a fixed rate, and a supplier that stocks every warehouse far beyond the run's needs.

Each order is what the storefront simulator (:mod:`orderflow_ops.storefront`) publishes for
a shopper who does not hesitate: one to three products, a currency, a checkout paid with a
Visa card the sandbox approves, shipped to the US, all keyed by cart id and numbered 1, 2, ...
Nothing is declined, abandoned or returned: every order of a run is expected to complete.
Sends are pipelined (not awaited one by one), so the load generator is not the bottleneck;
its CPU is reported with the rest.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
from orderflow_chassis.outbox import create_producer
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCurrencySelected,
    CartItemAdded,
    CheckoutRequested,
    Event,
    PaymentInput,
    ShippingAddressInput,
)
from orderflow_contracts.events.common import CardSummary
from orderflow_fulfillment.simulator import WarehouseSimulator

from orderflow_ops.ids import simulated_id
from orderflow_ops.storefront import PRODUCER
from orderflow_ops.traffic import SANDBOX_TOKENS

MAX_LINES = 3
MAX_QUANTITY = 2
MAX_UNITS_PER_ORDER = MAX_LINES * MAX_QUANTITY
# Await the acknowledgements of this many orders at a time: bounded memory, early errors.
ACK_WINDOW_ORDERS = 500
STOCK_POLL_S = 0.5


def order_events(cart_id: str, lines: Sequence[tuple[str, int]]) -> list[Event]:
    """One shopper's journey: the items, the currency, the checkout."""
    customer_id = simulated_id("cust", 10)
    events: list[Event] = [CartItemAdded(cart_id=cart_id, sku=sku, quantity=q) for sku, q in lines]
    events.append(CartCurrencySelected(cart_id=cart_id, currency="USD"))
    events.append(
        CheckoutRequested(
            cart_id=cart_id,
            customer_id=customer_id,
            email=f"{customer_id}@example.com",
            shipping_address=ShippingAddressInput(
                recipient_name="Bench Shopper",
                line1="1200 SW Park Ave",
                city="Portland",
                postal_code="97205",
                country="US",
            ),
            payment=PaymentInput(
                method="visa",
                provider_token=SANDBOX_TOKENS.card_approved,
                card=CardSummary(brand="visa", last4="4242", expiry_month=9, expiry_year=2030),
            ),
        )
    )
    return events


class StorefrontLoad:
    """Publishes orders; returns the cart ids it checked out, which identify them later."""

    def __init__(
        self, bootstrap_servers: str, topic_prefix: str, skus: Sequence[str], seed: int = 1
    ) -> None:
        if not skus:
            raise ValueError("the load needs at least one product in stock")
        self._skus = sorted(skus)
        self._prefix = topic_prefix
        self._random = random.Random(seed)  # noqa: S311 - a simulation, not security
        self._producer = create_producer(bootstrap_servers, client_id="bench-storefront")
        self._unacknowledged: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    def _lines(self) -> list[tuple[str, int]]:
        count = self._random.randint(1, min(MAX_LINES, len(self._skus)))
        chosen = self._random.sample(self._skus, k=count)
        return [(sku, self._random.randint(1, MAX_QUANTITY)) for sku in chosen]

    async def publish_order(self) -> str:
        cart_id = simulated_id("bench")
        journey = simulated_id("journey", 12)
        for sequence, event in enumerate(order_events(cart_id, self._lines()), start=1):
            envelope = Envelope.wrap(
                event, producer=PRODUCER, correlation_id=journey, sequence=sequence
            )
            delivery = await self._producer.send(
                self._prefix + type(event).topic,
                envelope.to_bytes(),
                key=envelope.key,
                headers=[("event_type", envelope.event_type.encode())],
            )
            self._unacknowledged.append(delivery)
        return cart_id

    async def flush(self) -> None:
        """Wait until every order sent so far is acknowledged (raises a send's error)."""
        pending, self._unacknowledged = self._unacknowledged, []
        await asyncio.gather(*pending)

    async def burst(self, orders: int, carts: list[str]) -> None:
        """``orders`` orders as fast as the producer takes them; each cart id is appended to
        ``carts`` once its events are handed to the producer."""
        for number in range(1, orders + 1):
            carts.append(await self.publish_order())
            if number % ACK_WINDOW_ORDERS == 0:
                await self.flush()
        await self.flush()

    async def paced(self, orders: int, per_second: float, carts: list[str]) -> None:
        """``orders`` orders, the i-th at start + i / per_second: a late order goes out at
        once, and the schedule keeps to the start time (no burst to catch up)."""
        start = time.monotonic()
        for number in range(orders):
            delay = start + number / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            carts.append(await self.publish_order())
            if len(self._unacknowledged) > ACK_WINDOW_ORDERS:
                await self.flush()
        await self.flush()


async def stock_levels(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/stock")
    response.raise_for_status()
    levels: list[dict[str, Any]] = response.json()
    return levels


async def stock_everything(
    warehouse: WarehouseSimulator, fulfillment_url: str, units: int, *, timeout_s: float = 60
) -> list[str]:
    """Count ``units`` on hand of every SKU in every warehouse (StockCounted, as a warehouse
    reports a physical count) and wait until fulfillment shows them. Returns the SKUs."""
    async with httpx.AsyncClient(base_url=fulfillment_url, timeout=10) as client:
        levels = await stock_levels(client)
        for level in levels:
            await warehouse.count_stock(level["warehouse_id"], level["sku"], units)
        deadline = time.monotonic() + timeout_s
        while True:
            levels = await stock_levels(client)
            short = [level for level in levels if level["on_hand"] < units]
            if not short:
                return sorted({level["sku"] for level in levels})
            if time.monotonic() > deadline:
                raise TimeoutError(f"stock counts not applied after {timeout_s:.0f}s: {short[:3]}")
            await asyncio.sleep(STOCK_POLL_S)

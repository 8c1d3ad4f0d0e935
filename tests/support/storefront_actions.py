"""What a storefront does, step by step, for end-to-end tests (public contract only)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from orderflow_contracts.events import (
    CardSummary,
    CartCurrencySelected,
    CartItemAdded,
    CheckoutRequested,
    PaymentInput,
    ShippingAddressInput,
    StockCounted,
)
from orderflow_ops.event_log import LoggedEvent

from tests.support.kafka_tools import eventually
from tests.support.system_harness import RunningSystem, events_of

ADDRESSES = {
    "US": ShippingAddressInput(
        recipient_name="Ada Lovelace",
        line1="500 Congress Ave",
        city="Austin",
        postal_code="78701",
        region="TX",
        country="US",
    ),
    "DE": ShippingAddressInput(
        recipient_name="Ada Lovelace",
        line1="Unter den Linden 1",
        city="Berlin",
        postal_code="10117",
        country="DE",
    ),
    "JP": ShippingAddressInput(
        recipient_name="Ada Lovelace",
        line1="1-1 Umeda",
        city="Osaka",
        postal_code="530-0001",
        country="JP",
    ),
}


async def set_stock(
    system: RunningSystem,
    levels: dict[tuple[str, str], int],
    *,
    clock_offset: timedelta = timedelta(0),
) -> None:
    """Count stock as a warehouse would: ``{(warehouse, sku): on_hand}``, stamped by a
    warehouse clock ``clock_offset`` off (as fulfillment's, when a test moved it)."""
    counted_at = datetime.now(UTC) + clock_offset
    await system.publish(
        [
            StockCounted(warehouse_id=warehouse, sku=sku, on_hand=on_hand, counted_at=counted_at)
            for (warehouse, sku), on_hand in levels.items()
        ],
        producer="warehouse",
    )


async def check_out(
    system: RunningSystem,
    lines: Sequence[tuple[str, int]],
    *,
    currency: str = "USD",
    country: str = "US",
    token: str = "tok_visa_approve",
    method: str = "visa",
) -> str:
    """Fill a cart and check it out; returns the cart id."""
    cart_id = f"cart-{uuid.uuid4().hex[:12]}"
    card = (
        CardSummary(brand=method, last4="4242", expiry_month=12, expiry_year=2030)
        if method in ("visa", "mastercard")
        else None
    )
    await system.publish(
        [
            *(CartItemAdded(cart_id=cart_id, sku=sku, quantity=qty) for sku, qty in lines),
            CartCurrencySelected(cart_id=cart_id, currency=currency),
            CheckoutRequested(
                cart_id=cart_id,
                customer_id=f"cust-{uuid.uuid4().hex[:8]}",
                email="ada@example.com",
                shipping_address=ADDRESSES[country],
                payment=PaymentInput(method=method, provider_token=token, card=card),
            ),
        ],
        numbered=True,
    )
    return cart_id


async def order_of_cart(system: RunningSystem, cart_id: str) -> str:
    log = await system.wait_for(
        lambda log: bool(events_of(log, "CartCheckedOut", cart_id=cart_id)),
        what=f"cart {cart_id} to be checked out",
    )
    return str(events_of(log, "CartCheckedOut", cart_id=cart_id)[0].data["order_id"])


def has(event_type: str, **data: object) -> Callable[[list[LoggedEvent]], bool]:
    return lambda log: bool(events_of(log, event_type, **data))


WAREHOUSES = ("US-EAST", "EU-CENTRAL", "AP-SOUTHEAST")


async def make_available(
    system: RunningSystem,
    sku: str,
    available: dict[str, int],
    *,
    clock_offset: timedelta = timedelta(0),
) -> None:
    """Count stock so that exactly ``available[warehouse]`` units of ``sku`` can be reserved.

    The fulfillment database is shared with other runs, which may hold reservations of the
    same SKU (and may release them meanwhile): the count is what is reserved now plus what
    should be free, repeated until the levels match. Warehouses not named get nothing free.
    """
    base_url = system.processes["fulfillment"].base_url
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:

        async def levels() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = (await client.get("/stock", params={"sku": sku})).json()
            return found

        def matches(found: list[dict[str, Any]]) -> bool:
            free = {level["warehouse_id"]: level["available"] for level in found}
            return all(free.get(w, 0) == available.get(w, 0) for w in WAREHOUSES)

        for _ in range(5):
            reserved = {level["warehouse_id"]: level["reserved"] for level in await levels()}
            wanted = {w: reserved.get(w, 0) + available.get(w, 0) for w in WAREHOUSES}
            counts = {(w, sku): n for w, n in wanted.items()}
            await set_stock(system, counts, clock_offset=clock_offset)
            if matches(await eventually(levels, matches, timeout_s=10)):
                return
        raise AssertionError(f"stock of {sku} never reached {available}")

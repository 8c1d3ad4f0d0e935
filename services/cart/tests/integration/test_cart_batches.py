"""The cart consumer locks its batch's carts by one statement, reads them by another and writes
what their events changed by one more, on real PostgreSQL: lines added, changed, reordered and
removed, a buffered (early) event still waits and is applied in turn, and a cart changed by a
transaction the batch waited for is read as that transaction left it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from orderflow_cart.adapters import sql_repositories
from orderflow_cart.handlers.cart_events import (
    STOREFRONT_CART_EVENTS,
    lock_carts,
    receive_cart_event,
    write_carts,
)
from orderflow_chassis.database import connect
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartItemQuantityChanged,
    CartItemRemoved,
)
from orderflow_localinfra.discovery import Infrastructure

from services.cart.tests.integration.conftest import SCHEMA, unit
from services.cart.tests.unit.handlers.cart_journeys import Storefront, add, cart_rules, deps

pytestmark = pytest.mark.integration


async def apply_batch(connection: asyncpg.Connection, batch: list[Envelope]) -> None:
    """As the cart consumer does: lock the batch's carts, apply each event in a unit of work
    of its own on the transaction's connection, then write what they changed."""
    events = [envelope.parse_event() for envelope in batch]
    rules = cart_rules(deps())
    async with connection.transaction():
        await lock_carts(events, unit(connection))
        for envelope, event in zip(batch, events, strict=True):
            assert isinstance(event, STOREFRONT_CART_EVENTS)
            await receive_cart_event(event, unit(connection, envelope), cart_rules=rules)
        await write_carts(unit(connection))


async def lines_of(connection: asyncpg.Connection, cart_id: str) -> list[tuple[str, int]]:
    cart = await sql_repositories(SCHEMA)(connection).carts.get(cart_id)
    assert cart is not None
    return list(cart.lines.items())


async def test_a_batch_of_edits_costs_three_statements_and_stores_every_cart(
    connection: asyncpg.Connection,
) -> None:
    shop = Storefront()
    carts = [f"batch-cart-{datetime.now(UTC).timestamp()}-{i}" for i in range(3)]
    batch = [
        shop.envelope(add(cart_id, sku, quantity))
        for cart_id in carts
        for sku, quantity in (("MB-SPIKY-8CM", 2), ("FR-WOOD-ROLLER", 1))
    ]
    # A first batch, so the types' codecs are known before the count (asyncpg looks them up).
    await apply_batch(connection, [shop.envelope(add(f"{carts[0]}-warm-up"))])
    statements: list[str] = []

    def logged(query: asyncpg.connection.LoggedQuery) -> None:
        statements.append(query.query)

    connection.add_query_logger(logged)
    try:
        await apply_batch(connection, batch)
        await asyncio.sleep(0)  # query loggers are called soon, not at once
    finally:
        connection.remove_query_logger(logged)
    # BEGIN, every cart locked, then read, every cart written, COMMIT.
    assert len(statements) == 5, statements
    for cart_id in carts:
        assert await lines_of(connection, cart_id) == [("MB-SPIKY-8CM", 2), ("FR-WOOD-ROLLER", 1)]

    # The next batch changes one line and removes the other, and adds a third.
    cart_id = carts[0]
    await apply_batch(
        connection,
        [
            shop.envelope(CartItemRemoved(cart_id=cart_id, sku="MB-SPIKY-8CM")),
            shop.envelope(
                CartItemQuantityChanged(cart_id=cart_id, sku="FR-WOOD-ROLLER", quantity=5)
            ),
            shop.envelope(add(cart_id, "MB-SPIKY-8CM", 1)),
        ],
    )
    assert await lines_of(connection, cart_id) == [("FR-WOOD-ROLLER", 5), ("MB-SPIKY-8CM", 1)]
    assert await lines_of(connection, carts[1]) == [("MB-SPIKY-8CM", 2), ("FR-WOOD-ROLLER", 1)]


async def test_an_early_event_waits_in_the_batch_and_is_applied_when_its_turn_comes(
    connection: asyncpg.Connection,
) -> None:
    shop = Storefront()
    cart_id = f"early-cart-{datetime.now(UTC).timestamp()}"
    first = shop.envelope(add(cart_id, "MB-SPIKY-8CM", 1))
    second = shop.envelope(add(cart_id, "FR-WOOD-ROLLER", 1))
    third = shop.envelope(CartItemQuantityChanged(cart_id=cart_id, sku="MB-SPIKY-8CM", quantity=3))
    await apply_batch(connection, [first, third])  # the third waits for the second
    assert await lines_of(connection, cart_id) == [("MB-SPIKY-8CM", 1)]
    await apply_batch(connection, [second, shop.envelope(add(cart_id, "MB-SPIKY-8CM", 1))])
    # The second, then the waiting third, then the fourth (+1 on top of the third's 3).
    assert await lines_of(connection, cart_id) == [("MB-SPIKY-8CM", 4), ("FR-WOOD-ROLLER", 1)]
    cart = await sql_repositories(SCHEMA)(connection).carts.get(cart_id)
    assert cart is not None
    assert cart.last_sequence == 4


async def test_a_batch_reads_its_carts_as_a_transaction_it_waited_for_left_them(
    connection: asyncpg.Connection, orderflow_infrastructure: Infrastructure
) -> None:
    """The carts are read after their locks are taken: a sweep that held one and changed its
    lines (applying a buffered event) is not undone by the batch that waited for it."""
    shop = Storefront()
    cart_id = f"waited-cart-{datetime.now(UTC).timestamp()}"
    await apply_batch(connection, [shop.envelope(add(cart_id, "MB-SPIKY-8CM", 1))])
    other = await connect(orderflow_infrastructure.service_database_urls["cart"], schema=SCHEMA)
    try:
        async with other.transaction():
            await other.fetchval("SELECT 1 FROM carts WHERE cart_id = $1 FOR UPDATE", cart_id)
            waiting = asyncio.create_task(
                apply_batch(connection, [shop.envelope(add(cart_id, "MB-SPIKY-8CM", 1))])
            )
            await asyncio.sleep(0.3)  # the batch now waits for the cart's lock
            assert not waiting.done()
            await other.execute(
                "INSERT INTO cart_lines (cart_id, sku, quantity, position) "
                "VALUES ($1, 'FR-WOOD-ROLLER', 2, 1)",
                cart_id,
            )
        await waiting
    finally:
        await other.close()
    assert await lines_of(connection, cart_id) == [("MB-SPIKY-8CM", 2), ("FR-WOOD-ROLLER", 2)]

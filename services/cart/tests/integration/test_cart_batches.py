"""The cart consumer locks its batch's carts by one statement, reads them by another and writes
what their events changed by one more, on real PostgreSQL: lines added, changed, reordered and
removed, a buffered (early) event still waits and is applied in turn, and a cart changed by a
transaction the batch waited for is read as that transaction left it. A batch's checkouts read
each product and rate once and insert their orders together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

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
    CartCurrencySelected,
    CartItemQuantityChanged,
    CartItemRemoved,
    Event,
    OrderPlaced,
)
from orderflow_localinfra.discovery import Infrastructure

from services.cart.tests.integration.conftest import SCHEMA, unit
from services.cart.tests.unit.handlers.cart_journeys import (
    Storefront,
    add,
    cart_rules,
    checkout,
    deps,
)

pytestmark = pytest.mark.integration


async def apply_batch(
    connection: asyncpg.Connection, batch: list[Envelope], emitted: list[Event] | None = None
) -> None:
    """As the cart consumer does: lock the batch's carts, apply each event in a unit of work
    of its own on the transaction's connection, then write what they changed. What the
    handlers emit is appended to ``emitted`` (without it, they must emit nothing)."""
    events = [envelope.parse_event() for envelope in batch]
    rules = cart_rules(deps())

    async def collect(event: Event, **_: object) -> None:
        assert emitted is not None, f"the handler emitted {event.event_type}"
        emitted.append(event)

    async with connection.transaction():
        await lock_carts(events, unit(connection))
        for envelope, event in zip(batch, events, strict=True):
            assert isinstance(event, STOREFRONT_CART_EVENTS)
            await receive_cart_event(event, unit(connection, envelope, collect), cart_rules=rules)
        await write_carts(unit(connection))


async def statements_of(
    connection: asyncpg.Connection, work: Callable[[], Awaitable[None]]
) -> list[str]:
    """The statements ``work`` sends on ``connection``."""
    statements: list[str] = []

    def logged(query: asyncpg.connection.LoggedQuery) -> None:
        statements.append(query.query)

    connection.add_query_logger(logged)
    try:
        await work()
        await asyncio.sleep(0)  # query loggers are called soon, not at once
    finally:
        connection.remove_query_logger(logged)
    return statements


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
    statements = await statements_of(connection, lambda: apply_batch(connection, batch))
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


async def test_a_batch_of_checkouts_reads_each_product_and_rate_once_and_adds_orders_at_once(
    connection: asyncpg.Connection,
) -> None:
    shop = Storefront()
    stamp = datetime.now(UTC).timestamp()
    carts = [f"checkout-batch-{stamp}-{i}" for i in range(4)]
    await apply_batch(
        connection,
        [
            shop.envelope(event)
            for cart_id in carts
            for event in (
                add(cart_id, "MB-SPIKY-8CM", 2),
                add(cart_id, "FR-WOOD-ROLLER", 1),
                CartCurrencySelected(cart_id=cart_id, currency="EUR"),
            )
        ],
    )
    emitted: list[Event] = []
    statements = await statements_of(
        connection,
        lambda: apply_batch(connection, [shop.envelope(checkout(c)) for c in carts[:3]], emitted),
    )
    placed = [event for event in emitted if isinstance(event, OrderPlaced)]
    assert sorted(order.cart_id for order in placed) == carts[:3]
    catalog_reads = [s for s in statements if "FROM cart.catalog_products" in s and "ANY" in s]
    rate_reads = [s for s in statements if "FROM cart.fx_rates" in s and "currency = $1" in s]
    order_inserts = [s for s in statements if "INSERT INTO cart.orders" in s]
    assert (len(catalog_reads), len(rate_reads), len(order_inserts)) == (1, 1, 1), statements
    stored = await connection.fetch(
        "SELECT cart_id, order_id, total FROM cart.orders WHERE cart_id = ANY($1)", carts
    )
    assert {(row["cart_id"], row["order_id"], row["total"]) for row in stored} == {
        (order.cart_id, order.order_id, order.total.amount) for order in placed
    }

    # What a batch read is forgotten with its transaction: a later transaction on the same
    # connection that remembers nothing (a sweep, a query) and the next batch's checkout see a
    # price changed meanwhile.
    price = await connection.fetchval(
        "SELECT price_usd FROM cart.catalog_products WHERE sku = 'FR-WOOD-ROLLER'"
    )
    repriced: list[Event] = []
    try:
        await connection.execute(
            "UPDATE cart.catalog_products SET price_usd = $1 WHERE sku = 'FR-WOOD-ROLLER'",
            price + Decimal("10.00"),
        )
        async with connection.transaction():
            catalog = sql_repositories(SCHEMA)(connection).catalog
            read = await catalog.on_sale(["FR-WOOD-ROLLER"])
        assert read["FR-WOOD-ROLLER"].price_usd == price + Decimal("10.00")
        await apply_batch(connection, [shop.envelope(checkout(carts[3]))], repriced)
    finally:
        await connection.execute(
            "UPDATE cart.catalog_products SET price_usd = $1 WHERE sku = 'FR-WOOD-ROLLER'", price
        )
    [before, after] = [
        next(e for e in events if isinstance(e, OrderPlaced)) for events in (emitted, repriced)
    ]
    assert after.base_subtotal.amount == before.base_subtotal.amount + Decimal("10.00")


async def test_a_deferred_order_is_stored_only_with_the_cart_that_became_it(
    connection: asyncpg.Connection,
) -> None:
    """A checkout dead-lettered after it added its order (its savepoint undone, the batch going
    on) leaves its cart open: the order it added must not be stored with the batch's."""
    shop = Storefront()
    stamp = datetime.now(UTC).timestamp()
    kept, undone = f"kept-{stamp}", f"undone-{stamp}"
    await apply_batch(
        connection, [shop.envelope(add(c, "MB-SPIKY-8CM", 1)) for c in (kept, undone)]
    )
    emitted: list[Event] = []
    await apply_batch(connection, [shop.envelope(checkout(c)) for c in (kept, undone)], emitted)
    placed = {e.cart_id: e for e in emitted if isinstance(e, OrderPlaced)}
    await connection.execute(
        "DELETE FROM cart.orders WHERE cart_id = ANY($1::text[])", [kept, undone]
    )
    await connection.execute(
        "UPDATE cart.carts SET status = 'open', order_id = NULL WHERE cart_id = $1", undone
    )
    async with connection.transaction():
        orders = sql_repositories(SCHEMA)(connection).orders
        orders.defer_adds()
        for cart_id in (kept, undone):
            await orders.add(placed[cart_id], datetime.now(UTC))
        await orders.write_pending()
    stored = await connection.fetch(
        "SELECT cart_id, order_id FROM cart.orders WHERE cart_id = ANY($1::text[])", [kept, undone]
    )
    assert [(row["cart_id"], row["order_id"]) for row in stored] == [(kept, placed[kept].order_id)]


async def test_of_two_deferred_adds_of_one_order_the_later_is_stored(
    connection: asyncpg.Connection,
) -> None:
    """A checkout dead-lettered after it added its order, then the same cart checked out again
    later in the batch: both add the same order id (it is derived from the cart); the one that
    stood, the later, is the order stored."""
    shop = Storefront()
    cart_id = f"twice-{datetime.now(UTC).timestamp()}"
    await apply_batch(connection, [shop.envelope(add(cart_id, "MB-SPIKY-8CM", 1))])
    emitted: list[Event] = []
    await apply_batch(connection, [shop.envelope(checkout(cart_id))], emitted)
    [stood] = [e for e in emitted if isinstance(e, OrderPlaced)]
    undone = stood.model_copy(update={"customer_id": "cust-undone"})
    await connection.execute("DELETE FROM cart.orders WHERE cart_id = $1", cart_id)
    async with connection.transaction():
        orders = sql_repositories(SCHEMA)(connection).orders
        orders.defer_adds()
        await orders.add(undone, datetime.now(UTC))
        await orders.add(stood, datetime.now(UTC))
        await orders.write_pending()
    stored = await connection.fetch(
        "SELECT order_id, customer_id FROM cart.orders WHERE cart_id = $1", cart_id
    )
    assert [(row["order_id"], row["customer_id"]) for row in stored] == [
        (stood.order_id, stood.customer_id)
    ]


async def test_an_empty_cart_asks_the_catalog_for_nothing_with_or_without_remembered_reads(
    connection: asyncpg.Connection,
) -> None:
    """An empty cart's checkout (refused later, with a reason) asks for no product: outside a
    batch (a sweep applying a buffered checkout) as inside one."""
    for remember in (False, True):
        async with connection.transaction():
            catalog = sql_repositories(SCHEMA)(connection).catalog
            if remember:
                catalog.remember_reads()
            assert await catalog.on_sale([]) == {}

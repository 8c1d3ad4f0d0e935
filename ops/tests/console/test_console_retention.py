"""Read-model retention on a real console and database: ended orders whose last event is
older than the retention leave with their whole timeline, in bounded batches; open orders,
recent ones and one whose timeline another kept order shares stay whole; the stage counts and
totals stay as they were."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.console import retention
from orderflow_ops.console.read_model_queries import ReadModelQueries
from orderflow_ops.console.retention import expire_orders

from ops.tests.console.console_harness import envelope, running_console
from tests.support.kafka_tools import eventually
from tests.support.service_harness import publish_envelopes, unique_prefix

pytestmark = pytest.mark.integration

DAYS_AGO_100 = -100 * 24 * 60  # minutes, relative to the harness' "an hour ago"


def placed(order_id: str, cart_id: str, at: float) -> list[Envelope]:
    request = envelope("CheckoutRequested", at, cart_id=cart_id)
    order = envelope("OrderPlaced", at + 1, cause=request, cart_id=cart_id, order_id=order_id)
    checked_out = envelope(
        "CartCheckedOut", at + 1, cause=request, cart_id=cart_id, order_id=order_id
    )
    return [request, checked_out, order]


def captured(order_id: str, cart_id: str, at: float) -> list[Envelope]:
    payment_id = str(uuid.uuid4())
    return [
        *placed(order_id, cart_id, at),
        envelope("PaymentAuthorized", at + 2, order_id=order_id, payment_id=payment_id),
        envelope("StockReserved", at + 2, order_id=order_id),
        envelope("PaymentCaptured", at + 3, order_id=order_id, payment_id=payment_id),
    ]


def completed(order_id: str, cart_id: str, at: float) -> list[Envelope]:
    return [*captured(order_id, cart_id, at), envelope("OrderCompleted", at + 4, order_id=order_id)]


def cancelled(order_id: str, cart_id: str, at: float) -> list[Envelope]:
    return [*placed(order_id, cart_id, at), envelope("OrderCancelled", at + 2, order_id=order_id)]


async def counters(pool: asyncpg.Pool, schema: str) -> tuple[object, ...]:
    totals = await pool.fetch(f"SELECT * FROM {schema}.stage_totals ORDER BY stage")
    minutes = await pool.fetchval(f"SELECT sum(events) FROM {schema}.stage_minutes")
    states = await pool.fetch(f"SELECT * FROM {schema}.order_state_counts ORDER BY state")
    return [tuple(row) for row in totals], minutes, [tuple(row) for row in states]


async def timeline_size(queries: ReadModelQueries, order_id: str) -> int:
    log, _ = await queries.order_log(order_id)
    return len(log)


async def test_ended_orders_past_the_retention_leave_with_their_timeline_in_batches(
    orderflow_infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {name: str(uuid.uuid4()) for name in ("done", "off", "open", "recent", "twin", "mate")}
    shared_cart = f"cart-shared-{uuid.uuid4().hex[:8]}"
    journeys = [
        *completed(ids["done"], f"cart-{ids['done']}", DAYS_AGO_100),  # goes
        *cancelled(ids["off"], f"cart-{ids['off']}", DAYS_AGO_100),  # goes
        *captured(ids["open"], f"cart-{ids['open']}", DAYS_AGO_100),  # waits: stays
        *completed(ids["recent"], f"cart-{ids['recent']}", 0),  # recent: stays
        # One cart, two orders: the ended one shares its cart's events with an open one.
        *cancelled(ids["twin"], shared_cart, DAYS_AGO_100),
        *captured(ids["mate"], shared_cart, DAYS_AGO_100 + 10),
    ]
    prefix = unique_prefix("console-retention")
    # retention_days=0: the console's own job stays off; the test runs the passes itself.
    async with running_console(orderflow_infrastructure, prefix, retention_days=0) as console:
        pool, schema = console.runtime.pool, console.runtime.settings.db_schema
        queries = ReadModelQueries(pool, schema)
        await publish_envelopes(orderflow_infrastructure, prefix, journeys)
        stored = await eventually(
            lambda: pool.fetchval(f"SELECT count(*) FROM {schema}.events"),
            lambda count: count == len(journeys),
            timeout_s=90,
        )
        assert stored == len(journeys)
        rows = await pool.fetch(f"SELECT order_id, state FROM {schema}.orders")
        states = {row["order_id"]: row["state"] for row in rows}
        assert states[ids["done"]] == "completed"
        assert states[ids["off"]] == "cancelled"
        assert states[ids["open"]] == "awaiting_shipment"
        kept = ("open", "recent", "twin", "mate")
        before = {name: await timeline_size(queries, ids[name]) for name in kept}
        assert before["open"] == 6
        counted = await counters(pool, schema)

        # A walk too short to see a whole timeline (one hop: the order's own events, not its
        # cart's) keeps every order rather than cut a timeline it does not know the end of.
        with monkeypatch.context() as short:
            short.setattr(retention, "WALK_HOPS", 1)
            unsure = await expire_orders(
                pool, schema, older_than=datetime.now(UTC) - timedelta(days=90), batch_size=10
            )
        assert (unsure.orders, unsure.events, unsure.kept_shared) == (0, 0, 3)

        result = await expire_orders(
            pool, schema, older_than=datetime.now(UTC) - timedelta(days=90), batch_size=1
        )

        assert (result.orders, result.events, result.kept_shared) == (2, 7 + 4, 1)
        left = {
            row["order_id"] for row in await pool.fetch(f"SELECT order_id FROM {schema}.orders")
        }
        assert left == {ids[name] for name in kept}
        for gone in ("done", "off"):
            assert await timeline_size(queries, ids[gone]) == 0
            cart = f"cart-{ids[gone]}"
            for table, column, value in (
                ("checkouts", "cart_id", cart),
                ("cart_orders", "order_id", ids[gone]),
                ("event_links", "linked_id", cart),
            ):
                rows = await pool.fetchval(
                    f"SELECT count(*) FROM {schema}.{table} WHERE {column} = $1", value
                )
                assert rows == 0, f"{table} still has rows of {gone}"
        assert {name: await timeline_size(queries, ids[name]) for name in kept} == before
        assert await counters(pool, schema) == counted
        assert await pool.fetchval(f"SELECT count(*) FROM {schema}.events") == len(journeys) - 11

        again = await expire_orders(
            pool, schema, older_than=datetime.now(UTC) - timedelta(days=90), batch_size=1
        )
        assert (again.orders, again.events) == (0, 0)

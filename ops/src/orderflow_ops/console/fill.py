"""Fill the console's read model with many synthetic orders, to measure its pages at scale.

For measurement only (``orderflow-console fill --orders 100000``), on a database of its own:
the rows are written straight into the console's tables with COPY, shaped as the projection
writes them (each order a journey cut at a random stage, its events, their links, the stage
counts, checkouts and carts), far faster than publishing and consuming them.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from orderflow_chassis.database import Connection, acquired
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_event

from orderflow_ops.console.projection import apply_to_order, facts_to_data, stage_of
from orderflow_ops.invariants import OrderFacts

JOURNEY = (
    "CheckoutRequested",
    "CartCheckedOut",
    "OrderPlaced",
    "PaymentAuthorized",
    "StockReserved",
    "PaymentCaptured",
    "FulfillmentRequested",
    "ShipmentDispatched",
    "ShipmentDelivered",
    "OrderCompleted",
)
# Ids in the examples that stand for one order's things: replaced by each order's own.
_ID_FIELDS = ("order_id", "cart_id", "payment_id", "shipment_id")


@dataclass(frozen=True)
class _Template:
    event_type: str
    topic: str
    envelope_json: str  # with {order_id}, {cart_id}, ... placeholders
    links: tuple[str, ...]  # id fields it names


def _templates() -> list[_Template]:
    examples = {t: example_event(t).model_dump(mode="json") for t in JOURNEY}
    originals = {
        field: str(data[field])
        for data in examples.values()
        for field in _ID_FIELDS
        if field in data
    }
    templates = []
    for event_type, data in examples.items():
        envelope = Envelope.wrap(
            type(example_event(event_type)).model_validate(data),
            producer="fill",
            correlation_id="fill",
        )
        text = envelope.model_dump_json()
        text = text.replace(str(envelope.event_id), "{event_id}")
        text = text.replace(envelope.occurred_at.isoformat().replace("+00:00", "Z"), "{at}")
        for field, original in originals.items():
            text = text.replace(f'"{original}"', "{" + field + "}")
        linked = tuple(f for f in _ID_FIELDS if f in data)
        templates.append(_Template(event_type, type(example_event(event_type)).topic, text, linked))
    return templates


def _ids(run: int, n: int) -> dict[str, str]:
    """Ids of order ``n`` of fill ``run``: unique, so fills add up and never collide."""
    return {
        field: str(uuid.UUID(int=(kind << 120) | (run << 32) | n))
        for kind, field in enumerate(_ID_FIELDS, start=1)
    } | {"cart_id": f"cart-fill-{run:x}-{n}"}


def _order_views(now: datetime) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(state, facts, violations) of the example order cut after each journey step."""
    facts = OrderFacts("x")
    views = []
    for event_type in JOURNEY:
        view = apply_to_order(facts, example_event(event_type), now)
        views.append((view.state, facts_to_data(facts), list(view.violations)))
    return views


def _rows(orders: int, now: datetime, seed: int) -> Iterator[tuple[str, tuple[Any, ...]]]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, repeatable on purpose
    run = uuid.uuid4().int >> 48  # 80 bits: between the kind and the order number
    templates = _templates()
    views = _order_views(now)
    total = Decimal(example_event("OrderPlaced").model_dump(mode="json")["total"]["amount"])
    for n in range(orders):
        ids = _ids(run, n)
        steps = rng.choice((3, 6, 9, 10, 10, 10, 10, 10))  # most orders complete
        start = now - timedelta(seconds=rng.uniform(60, 7 * 24 * 3600))
        last = start
        for index, template in enumerate(templates[:steps]):
            at = start + timedelta(seconds=20 * index)
            last = at
            event_id = uuid.uuid4()
            text = template.envelope_json.replace("{event_id}", str(event_id))
            text = text.replace("{at}", at.isoformat().replace("+00:00", "Z"))
            for field in _ID_FIELDS:
                text = text.replace("{" + field + "}", json.dumps(ids[field]))
            yield "events", (event_id, template.event_type, template.topic, 0, n, 0, at, text, None)
            for field in template.links:
                yield "event_links", (ids[field], event_id)
            stage = stage_of(template.event_type)
            if stage is not None:
                yield "stage", (stage, at.replace(second=0, microsecond=0))
        state, facts, violations = views[steps - 1]
        facts = {**facts, "last_event_at": last.isoformat(), "placed_at": start.isoformat()}
        yield (
            "orders",
            (
                ids["order_id"],
                ids["cart_id"],
                state,
                start,
                last,
                total,
                "EUR",
                facts,
                violations,
            ),
        )
        yield "cart_orders", (ids["cart_id"], ids["order_id"], start)


_COLUMNS = {
    "events": (
        "event_id",
        "event_type",
        "topic",
        "kafka_partition",
        "kafka_offset",
        "timestamp_ms",
        "occurred_at",
        "envelope",
        "traceparent",
    ),
    "event_links": ("linked_id", "event_id"),
    "orders": (
        "order_id",
        "cart_id",
        "state",
        "placed_at",
        "last_event_at",
        "total",
        "currency",
        "facts",
        "violations",
    ),
    "cart_orders": ("cart_id", "order_id", "checked_out_at"),
}


async def fill(pool: asyncpg.Pool, schema: str, orders: int, *, seed: int = 7) -> int:
    """Write ``orders`` synthetic orders; returns the number of events written."""
    now = datetime.now(UTC)
    batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _COLUMNS}
    stages: dict[tuple[str, datetime], int] = {}
    events = 0

    async def flush() -> None:
        async with acquired(pool) as connection, connection.transaction():
            for table, rows in batch.items():
                if table != "orders" and rows:
                    await connection.copy_records_to_table(
                        table, schema_name=schema, records=rows, columns=list(_COLUMNS[table])
                    )
            # COPY has no binary form of jsonb: the facts go through a text column.
            await connection.execute(
                f"CREATE TEMP TABLE fill_orders (LIKE {schema}.orders) ON COMMIT DROP;"
                "ALTER TABLE fill_orders ALTER COLUMN facts TYPE text"
            )
            await connection.copy_records_to_table(
                "fill_orders",
                records=[(*row[:7], json.dumps(row[7]), row[8]) for row in batch["orders"]],
                columns=list(_COLUMNS["orders"]),
            )
            await connection.execute(
                f"INSERT INTO {schema}.orders SELECT order_id, cart_id, state, placed_at, "
                "last_event_at, total, currency, facts::jsonb, violations FROM fill_orders"
            )
        for rows in batch.values():
            rows.clear()

    for table, row in _rows(orders, now, seed):
        if table == "stage":
            key = (row[0], row[1])
            stages[key] = stages.get(key, 0) + 1
            continue
        events += table == "events"
        batch[table].append(row)
        if len(batch["events"]) >= 20_000 and table == "cart_orders":
            await flush()
    await flush()
    async with acquired(pool) as connection:
        await connection.executemany(
            f"""
            INSERT INTO {schema}.stage_minutes AS m (stage, minute, events) VALUES ($1, $2, $3)
            ON CONFLICT (stage, minute) DO UPDATE SET events = m.events + excluded.events
            """,
            [(stage, minute, count) for (stage, minute), count in stages.items()],
        )
        await recount(connection, schema)
        await connection.execute(f"ANALYZE {schema}.orders")
        await connection.execute(f"ANALYZE {schema}.events")
        await connection.execute(f"ANALYZE {schema}.event_links")
    return events


async def recount(connection: Connection, schema: str) -> None:
    """Rebuild the running totals from the rows (the projection keeps them as it goes)."""
    async with connection.transaction():
        await connection.execute(
            f"""
            DELETE FROM {schema}.stage_totals;
            INSERT INTO {schema}.stage_totals (stage, events)
            SELECT stage, sum(events) FROM {schema}.stage_minutes GROUP BY stage;
            UPDATE {schema}.cart_orders c SET order_placed_at = o.placed_at
            FROM {schema}.orders o WHERE o.order_id = c.order_id AND c.order_placed_at IS NULL;
            DELETE FROM {schema}.order_state_counts;
            INSERT INTO {schema}.order_state_counts (state, orders)
            SELECT state, count(*) FROM {schema}.orders WHERE placed_at IS NOT NULL GROUP BY state;
            """
        )

"""Read-model retention: orders that ended long ago leave the console's read model.

An order in an end state (completed, cancelled, declined, out of stock, refunded) whose last
event is older than ``CONSOLE_RETENTION_DAYS`` is deleted with its timeline: every event
linked to it, directly or through what it led to (its cart, payments, shipments, RMAs,
refunds; the walk the Order page makes), their links, and its cart, checkout and refund rows.
The overview's stage counts and totals and the orders-per-state counts stay as they are: they
count what happened, not what is kept. Dead letters and the replay audit are not touched.

Each batch is one transaction of at most ``batch_size`` orders, so the projection is never
blocked for long. An order whose timeline reaches an order that is kept (a cart that became
two orders, one still open) is kept too: deleting the shared events would cut the other
order's timeline. An event arriving for an order after it was deleted starts it again as an
order seen only through later events; a retention longer than any return or warranty window
avoids that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from orderflow_chassis.database import Connection, acquired
from orderflow_chassis.errors import describe_error
from orderflow_chassis.unit_of_work import DatabaseTransactions, Transactions

from orderflow_ops.invariants import FINAL_STATES

log = structlog.get_logger(__name__)

WALK_HOPS = 8
"""How far the walk from an order follows links (the Order page stops at 6): an order whose
timeline reaches further is kept rather than cut."""
_BATCH_PAUSE_S = 0.05  # between batches: the projection's transactions go first


@dataclass(frozen=True)
class RetentionResult:
    orders: int = 0
    events: int = 0
    kept_shared: int = 0  # expired, but their timeline reaches an order that is kept

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(
            self.orders + other.orders,
            self.events + other.events,
            self.kept_shared + other.kept_shared,
        )


@dataclass(frozen=True)
class _Cursor:
    """Where the last batch stopped: expired orders are visited once per pass, in order."""

    last_event_at: datetime
    order_id: str


async def expire_orders(
    pool: asyncpg.Pool, schema: str, *, older_than: datetime, batch_size: int
) -> RetentionResult:
    """One pass: delete, batch by batch, the ended orders whose last event is before
    ``older_than``, with their timelines."""
    total, cursor = RetentionResult(), None
    while True:
        async with acquired(pool) as connection, connection.transaction():
            result, cursor, full = await _expire_batch(
                connection, schema, older_than, batch_size, cursor
            )
        total += result
        if not full:
            return total
        await asyncio.sleep(_BATCH_PAUSE_S)


async def _expire_batch(
    connection: Connection,
    schema: str,
    older_than: datetime,
    batch_size: int,
    cursor: _Cursor | None,
) -> tuple[RetentionResult, _Cursor | None, bool]:
    s = schema
    expired = await connection.fetch(
        f"""
        SELECT order_id, last_event_at FROM {s}.orders
        WHERE state = ANY($1::text[]) AND last_event_at < $2
          AND ($3::timestamptz IS NULL OR (last_event_at, order_id) > ($3, $4))
        ORDER BY last_event_at, order_id
        LIMIT $5
        FOR UPDATE SKIP LOCKED
        """,
        sorted(FINAL_STATES),
        older_than,
        cursor.last_event_at if cursor else None,
        cursor.order_id if cursor else "",
        batch_size,
    )
    if not expired:
        return RetentionResult(), cursor, False
    last = expired[-1]
    next_cursor = _Cursor(last["last_event_at"], last["order_id"])
    roots = [row["order_id"] for row in expired]
    deletable, events, ids = await _deletable(connection, s, roots)
    deleted = await _delete_timelines(connection, s, deletable, events, ids)
    result = RetentionResult(len(deletable), deleted, len(roots) - len(deletable))
    return result, next_cursor, len(expired) == batch_size


async def _deletable(
    connection: Connection, s: str, roots: list[str]
) -> tuple[list[str], list[Any], list[str]]:
    """The roots whose whole timeline belongs to expired orders of this batch, the events of
    those timelines, and every id they name."""
    links, unfinished = await _walk(connection, s, roots)
    timeline = _Timelines(roots)
    for named in links.values():
        timeline.join(named)
    every_id = sorted(timeline.ids())
    kept_orders = {
        row["order_id"]
        for row in await connection.fetch(
            f"SELECT order_id FROM {s}.orders WHERE order_id = ANY($1::text[])", every_id
        )
    } - set(roots)
    # A timeline the walk did not finish may reach an order that stays: kept, like one that
    # names such an order.
    blocked = {timeline.of(name) for name in kept_orders | unfinished}
    deletable = [root for root in roots if timeline.of(root) not in blocked]
    # An event's ids are all in one timeline: any of them tells which.
    events = [event for event, named in links.items() if timeline.of(min(named)) not in blocked]
    ids = [name for name in every_id if timeline.of(name) not in blocked]
    return deletable, events, ids


async def _walk(
    connection: Connection, s: str, roots: list[str]
) -> tuple[dict[Any, set[str]], set[str]]:
    """Every event reachable from ``roots`` through shared ids (the Order page's walk), with
    all the ids it names; and the ids the walk found but did not follow (its hop limit)."""
    links: dict[Any, set[str]] = {}
    seen, frontier = set(roots), list(roots)
    for _ in range(WALK_HOPS):
        if not frontier:
            break
        rows = await connection.fetch(
            f"""
            SELECT l2.event_id, l2.linked_id FROM {s}.event_links l1
            JOIN {s}.event_links l2 ON l2.event_id = l1.event_id
            WHERE l1.linked_id = ANY($1::text[])
            """,
            frontier,
        )
        for row in rows:
            links.setdefault(row["event_id"], set()).add(row["linked_id"])
        found = {row["linked_id"] for row in rows} - seen
        seen |= found
        frontier = sorted(found)
    return links, set(frontier)


class _Timelines:
    """Ids that belong to one timeline (named together by some event), as a union-find."""

    def __init__(self, roots: list[str]) -> None:
        self._parent = {root: root for root in roots}

    def of(self, name: str) -> str:
        parent = self._parent.setdefault(name, name)
        while parent != self._parent[parent]:
            self._parent[parent] = self._parent[self._parent[parent]]
            parent = self._parent[parent]
        return parent

    def join(self, names: set[str]) -> None:
        first, *others = [self.of(name) for name in names]
        for other in others:
            self._parent[other] = first

    def ids(self) -> set[str]:
        return set(self._parent)


async def _delete_timelines(
    connection: Connection, s: str, orders: list[str], events: list[Any], ids: list[str]
) -> int:
    if not orders:
        return 0
    await connection.execute(
        f"DELETE FROM {s}.event_links WHERE event_id = ANY($1::uuid[])", events
    )
    deleted = await connection.execute(
        f"DELETE FROM {s}.events WHERE event_id = ANY($1::uuid[])", events
    )
    await connection.execute(
        f"""
        DELETE FROM {s}.checkouts WHERE cart_id = ANY($1::text[]) AND answered_at IS NOT NULL
        """,
        ids,
    )
    for table in ("cart_orders", "refunds", "orders"):
        await connection.execute(
            f"DELETE FROM {s}.{table} WHERE order_id = ANY($1::text[])", orders
        )
    return int(deleted.split()[-1])


def retention_job(
    schema: str, days: int, batch_size: int, interval_s: float, on_deleted: Callable[[], None]
) -> Callable[[Transactions[Any]], Awaitable[None]]:
    """The background job: a pass at start, then every ``interval_s``. A failed pass (the
    database away) is logged and tried again at the next interval; the console goes on."""

    async def run(transactions: Transactions[Any]) -> None:
        if not isinstance(transactions, DatabaseTransactions):
            raise TypeError("the retention job runs on the runtime's database transactions")
        while True:
            older_than = datetime.now(UTC) - timedelta(days=days)
            try:
                result = await expire_orders(
                    transactions.pool, schema, older_than=older_than, batch_size=batch_size
                )
            except Exception as error:
                log.warning("console.retention_failed", error=describe_error(error))
            else:
                if result.orders or result.kept_shared:
                    log.info(
                        "console.retention",
                        orders_deleted=result.orders,
                        events_deleted=result.events,
                        kept_shared=result.kept_shared,
                        older_than=older_than.isoformat(),
                    )
                if result.orders:
                    on_deleted()
            await asyncio.sleep(interval_s)

    run.__name__ = "console-retention"
    return run

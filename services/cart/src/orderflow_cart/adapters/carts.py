"""Carts, their lines, the reorder buffer and the ops records, in the ``cart`` schema."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.envelope import Envelope

from orderflow_cart.adapters.cart_ops_records import CartOpsRecords
from orderflow_cart.domain.cart import Cart, CartStatus
from orderflow_cart.domain.sequencing import Waiting
from orderflow_cart.ports import WaitingEvent


@dataclass
class _Locked:
    cart: Cart
    waiting: list[Waiting] | None  # None: the batch buffered or took one; read them again


@dataclass
class LockedCarts:
    """The carts a batch locked (``lock_all``), kept as its events are applied to them, and
    the ones saved, written together by ``write_pending``. Only for the transaction that
    locked them; the next attempt's ``lock_all`` replaces them."""

    carts: dict[str, _Locked]
    # Each saved cart, and when it was first saved checked out in this batch (if it was).
    saved: dict[str, tuple[Cart, datetime | None]] = field(default_factory=dict)


# Set by ``lock_all`` in the consumer's task, read by the repositories its handlers get.
_LOCKED: TransactionLocal[LockedCarts] = TransactionLocal("locked_carts")


class CartRepository(CartOpsRecords):
    """The :class:`~orderflow_cart.ports.Carts` of one transaction: carts, their lines and the
    reorder buffer here, the ops records of what was not applied in its base class."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)
        # The buffered events of carts locked in this unit of work (``lock`` reads them).
        self._waiting: dict[str, list[Waiting]] = {}

    # ------------------------------------------------------------------ the cart itself

    async def lock_all(self, cart_ids: Iterable[str], now: datetime) -> None:
        wanted = sorted(set(cart_ids))
        await self._connection.execute(
            self._locking_upsert("SELECT id, $2 FROM unnest($1::text[]) AS id ORDER BY id"),
            wanted,
            now,
        )
        rows = await self._connection.fetch(self._locked_read("= ANY($1::text[])"), wanted)
        _LOCKED.set(
            self._connection,
            LockedCarts({row["cart_id"]: _Locked(_cart(row), _waiting(row)) for row in rows}),
        )

    def _locked(self) -> LockedCarts | None:
        return _LOCKED.get(self._connection)

    async def lock(self, cart_id: str, now: datetime) -> Cart:
        """The cart, locked for this transaction; created (empty, open) if it is new.

        Without a round trip when the batch's ``lock_all`` locked it; else two: the upsert
        locks the row (as an update does), then it is read with its lines and its buffered
        events' numbers, which ``waiting`` then answers from.
        """
        locked = self._locked()
        if locked is not None and cart_id in locked.carts:
            # A copy: a handler that fails leaves the batch's cart as it was.
            entry = locked.carts[cart_id]
            if entry.waiting is not None:
                self._waiting[cart_id] = list(entry.waiting)
            return replace(entry.cart, lines=dict(entry.cart.lines))
        await self._connection.execute(self._locking_upsert("VALUES ($1, $2)"), cart_id, now)
        row = await self._connection.fetchrow(self._locked_read("= $1"), cart_id)
        assert row is not None
        self._waiting[cart_id] = _waiting(row)
        return _cart(row)

    def _locking_upsert(self, rows: str) -> str:
        return f"""
            INSERT INTO {self._schema}.carts AS c (cart_id, created_at) {rows}
            ON CONFLICT (cart_id) DO UPDATE SET cart_id = c.cart_id
            """

    def _locked_read(self, which: str) -> str:
        # A statement of its own, after the locks: under READ COMMITTED a statement sees what
        # was committed when it started, and the locks may have waited for another
        # transaction's commit (a sweep applying a cart's buffered events).
        return f"""
            SELECT {_CART_COLUMNS},
                   {_LINES.format(schema=self._schema)},
                   (SELECT coalesce(array_agg(p.sequence ORDER BY p.sequence), '{{}}')
                    FROM {self._schema}.pending_cart_events AS p
                    WHERE p.cart_id = c.cart_id) AS waiting_sequences,
                   (SELECT coalesce(array_agg(p.received_at ORDER BY p.sequence), '{{}}')
                    FROM {self._schema}.pending_cart_events AS p
                    WHERE p.cart_id = c.cart_id) AS waiting_received
            FROM {self._schema}.carts AS c WHERE c.cart_id {which}
            """

    async def get(self, cart_id: str) -> Cart | None:
        row = await self._connection.fetchrow(
            f"""
            SELECT {_CART_COLUMNS}, {_LINES.format(schema=self._schema)}
            FROM {self._schema}.carts AS c WHERE c.cart_id = $1
            """,
            cart_id,
        )
        return None if row is None else _cart(row)

    async def save(self, cart: Cart, now: datetime) -> None:
        locked = self._locked()
        if locked is not None and cart.cart_id in locked.carts:
            # The batch's: written by ``write_pending``, once per cart.
            locked.carts[cart.cart_id].cart = cart
            previous = locked.saved.get(cart.cart_id)
            checked_out_at = previous[1] if previous is not None else None
            if checked_out_at is None and cart.status is CartStatus.CHECKED_OUT:
                checked_out_at = now
            locked.saved[cart.cart_id] = (cart, checked_out_at)
            return
        # One round trip: the cart row, its lines upserted, and the lines it no longer has.
        await self._connection.execute(
            f"""
            WITH cart AS (
                UPDATE {self._schema}.carts
                SET status = $2, currency = $3, last_sequence = $4, last_activity_at = $5,
                    last_event_id = $6, last_correlation_id = $7, customer_id = $8,
                    order_id = $9,
                    checked_out_at = CASE WHEN $2 = 'checked_out'
                                          THEN coalesce(checked_out_at, $10) END
                WHERE cart_id = $1
            ), kept AS (
                INSERT INTO {self._schema}.cart_lines AS l (cart_id, sku, quantity, position)
                SELECT $1, line.sku, line.quantity, line.position - 1
                FROM unnest($11::text[], $12::integer[])
                     WITH ORDINALITY AS line(sku, quantity, position)
                ON CONFLICT (cart_id, sku) DO UPDATE
                SET quantity = excluded.quantity, position = excluded.position
            )
            DELETE FROM {self._schema}.cart_lines
            WHERE cart_id = $1 AND NOT (sku = ANY($11::text[]))
            """,
            cart.cart_id,
            cart.status.value,
            cart.currency,
            cart.last_sequence,
            cart.last_activity_at,
            UUID(cart.last_event_id) if cart.last_event_id else None,
            cart.last_correlation_id,
            cart.customer_id,
            cart.order_id,
            now,
            list(cart.lines),
            list(cart.lines.values()),
        )

    async def write_pending(self) -> None:
        locked = self._locked()
        if locked is None or not locked.saved:
            return
        saved = list(locked.saved.values())
        locked.saved.clear()
        lines = [
            (cart.cart_id, sku, quantity, position)
            for cart, _ in saved
            for position, (sku, quantity) in enumerate(cart.lines.items())
        ]
        # One statement for the batch's carts: each row, its lines upserted, and the lines it
        # no longer has (the two sets of lines are disjoint, so no row is changed twice).
        await self._connection.execute(
            f"""
            WITH saved AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],
                                     $5::timestamptz[], $6::uuid[], $7::text[], $8::text[],
                                     $9::uuid[], $10::timestamptz[])
                    AS s(cart_id, status, currency, last_sequence, last_activity_at,
                         last_event_id, last_correlation_id, customer_id, order_id,
                         checked_out_at)
            ), lines AS (
                SELECT * FROM unnest($11::text[], $12::text[], $13::integer[], $14::integer[])
                    AS l(cart_id, sku, quantity, position)
            ), carts AS (
                UPDATE {self._schema}.carts AS c
                SET status = s.status, currency = s.currency, last_sequence = s.last_sequence,
                    last_activity_at = s.last_activity_at, last_event_id = s.last_event_id,
                    last_correlation_id = s.last_correlation_id, customer_id = s.customer_id,
                    order_id = s.order_id,
                    checked_out_at = CASE WHEN s.status = 'checked_out'
                                          THEN coalesce(c.checked_out_at, s.checked_out_at) END
                FROM saved AS s WHERE c.cart_id = s.cart_id
            ), kept AS (
                INSERT INTO {self._schema}.cart_lines AS l (cart_id, sku, quantity, position)
                SELECT cart_id, sku, quantity, position FROM lines
                ON CONFLICT (cart_id, sku) DO UPDATE
                SET quantity = excluded.quantity, position = excluded.position
            )
            DELETE FROM {self._schema}.cart_lines AS o
            USING saved AS s
            WHERE o.cart_id = s.cart_id
              AND NOT EXISTS (SELECT 1 FROM lines AS l
                              WHERE l.cart_id = o.cart_id AND l.sku = o.sku)
            """,
            [cart.cart_id for cart, _ in saved],
            [cart.status.value for cart, _ in saved],
            [cart.currency for cart, _ in saved],
            [cart.last_sequence for cart, _ in saved],
            [cart.last_activity_at for cart, _ in saved],
            [UUID(cart.last_event_id) if cart.last_event_id else None for cart, _ in saved],
            [cart.last_correlation_id for cart, _ in saved],
            [cart.customer_id for cart, _ in saved],
            [cart.order_id for cart, _ in saved],
            [checked_out_at for _, checked_out_at in saved],
            [line[0] for line in lines],
            [line[1] for line in lines],
            [line[2] for line in lines],
            [line[3] for line in lines],
        )

    # ------------------------------------------------------------------ reorder buffer

    async def waiting(self, cart_id: str) -> list[Waiting]:
        if cart_id in self._waiting:  # read with the lock, in this transaction
            return list(self._waiting[cart_id])
        rows = await self._connection.fetch(
            f"SELECT sequence, received_at FROM {self._schema}.pending_cart_events "
            "WHERE cart_id = $1 ORDER BY sequence",
            cart_id,
        )
        return [Waiting(row["sequence"], row["received_at"]) for row in rows]

    async def buffer(self, cart_id: str, envelope: Envelope, now: datetime) -> None:
        assert envelope.sequence is not None
        self._forget_waiting(cart_id)
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.pending_cart_events
                (cart_id, sequence, event_id, event_type, envelope, received_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            cart_id,
            envelope.sequence,
            envelope.event_id,
            envelope.event_type,
            envelope.model_dump(mode="json"),
            now,
        )

    async def take_waiting(self, cart_id: str, sequence: int) -> WaitingEvent:
        self._forget_waiting(cart_id)
        row = await self._connection.fetchrow(
            f"DELETE FROM {self._schema}.pending_cart_events "
            "WHERE cart_id = $1 AND sequence = $2 RETURNING event_id, event_type, envelope",
            cart_id,
            sequence,
        )
        assert row is not None, "a buffered event is taken under its cart's lock"
        return WaitingEvent(cart_id, row["event_id"], row["event_type"], sequence, row["envelope"])

    def _forget_waiting(self, cart_id: str) -> None:
        """The cart's buffered events changed: whoever asks next reads them again."""
        self._waiting.pop(cart_id, None)
        locked = self._locked()
        if locked is not None and cart_id in locked.carts:
            locked.carts[cart_id].waiting = None

    async def with_overdue_gaps(
        self, cutoff: datetime, limit: int, *, skipping: Sequence[str] = ()
    ) -> list[str]:
        """Carts whose earliest buffered event arrived at or before ``cutoff``, locked, but
        ``skipping``."""
        rows = await self._connection.fetch(
            f"""
            SELECT cart_id FROM {self._schema}.carts
            WHERE cart_id IN (
                SELECT cart_id FROM {self._schema}.pending_cart_events
                GROUP BY cart_id HAVING min(received_at) <= $1
            ) AND cart_id <> ALL($3::text[])
            ORDER BY cart_id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            cutoff,
            limit,
            list(skipping),
        )
        return [row["cart_id"] for row in rows]

    # ------------------------------------------------------------------ abandonment

    async def idle(
        self, cutoff: datetime, limit: int, *, skipping: Sequence[str] = ()
    ) -> list[str]:
        """Open carts with lines and no activity since ``cutoff``, locked, but ``skipping``."""
        rows = await self._connection.fetch(
            f"""
            SELECT cart_id FROM {self._schema}.carts AS c
            WHERE status = 'open' AND last_activity_at <= $1 AND cart_id <> ALL($3::text[])
              AND EXISTS (SELECT 1 FROM {self._schema}.cart_lines AS l
                          WHERE l.cart_id = c.cart_id)
            ORDER BY last_activity_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            cutoff,
            limit,
            list(skipping),
        )
        return [row["cart_id"] for row in rows]

    async def mark_abandoned(self, cart_id: str, now: datetime) -> None:
        await self._connection.execute(
            f"UPDATE {self._schema}.carts SET status = 'abandoned', abandoned_at = $2 "
            "WHERE cart_id = $1 AND status = 'open'",
            cart_id,
            now,
        )


_CART_COLUMNS = (
    "c.cart_id, c.status, c.currency, c.last_sequence, c.last_activity_at, c.last_event_id, "
    "c.last_correlation_id, c.customer_id, c.order_id"
)
_LINES = (
    "(SELECT coalesce(array_agg(l.sku ORDER BY l.position), '{{}}') "
    "FROM {schema}.cart_lines AS l WHERE l.cart_id = c.cart_id) AS line_skus, "
    "(SELECT coalesce(array_agg(l.quantity ORDER BY l.position), '{{}}') "
    "FROM {schema}.cart_lines AS l WHERE l.cart_id = c.cart_id) AS line_quantities"
)


def _waiting(row: asyncpg.Record) -> list[Waiting]:
    return [
        Waiting(sequence, received)
        for sequence, received in zip(
            row["waiting_sequences"], row["waiting_received"], strict=True
        )
    ]


def _cart(row: asyncpg.Record) -> Cart:
    last_event_id: Any = row["last_event_id"]
    return Cart(
        cart_id=row["cart_id"],
        status=CartStatus(row["status"]),
        currency=row["currency"],
        lines=dict(zip(row["line_skus"], row["line_quantities"], strict=True)),
        last_sequence=row["last_sequence"],
        last_activity_at=row["last_activity_at"],
        last_event_id=str(last_event_id) if last_event_id is not None else None,
        last_correlation_id=row["last_correlation_id"],
        customer_id=row["customer_id"],
        order_id=row["order_id"],
    )

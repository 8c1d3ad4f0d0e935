"""Carts, their lines, the reorder buffer and the ops records, in the ``cart`` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.envelope import Envelope

from orderflow_cart.domain.cart import Cart, CartStatus
from orderflow_cart.domain.sequencing import Waiting
from orderflow_cart.ports import SkippedSequences, UnappliedEvent


class CartRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    # ------------------------------------------------------------------ the cart itself

    async def lock(self, cart_id: str, now: datetime) -> Cart:
        """The cart, locked for this transaction; created (empty, open) if it is new."""
        await self._connection.execute(
            f"INSERT INTO {self._schema}.carts (cart_id, created_at) VALUES ($1, $2) "
            "ON CONFLICT (cart_id) DO NOTHING",
            cart_id,
            now,
        )
        cart = await self._load(cart_id, lock=True)
        assert cart is not None
        return cart

    async def get(self, cart_id: str) -> Cart | None:
        return await self._load(cart_id, lock=False)

    async def _load(self, cart_id: str, *, lock: bool) -> Cart | None:
        row = await self._connection.fetchrow(
            f"""
            SELECT cart_id, status, currency, last_sequence, last_activity_at, last_event_id,
                   last_correlation_id, customer_id, order_id
            FROM {self._schema}.carts WHERE cart_id = $1
            {"FOR UPDATE" if lock else ""}
            """,
            cart_id,
        )
        if row is None:
            return None
        lines = await self._connection.fetch(
            f"SELECT sku, quantity FROM {self._schema}.cart_lines WHERE cart_id = $1 "
            "ORDER BY position",
            cart_id,
        )
        return _cart(row, lines)

    async def save(self, cart: Cart, now: datetime) -> None:
        await self._connection.execute(
            f"""
            UPDATE {self._schema}.carts
            SET status = $2, currency = $3, last_sequence = $4, last_activity_at = $5,
                last_event_id = $6, last_correlation_id = $7, customer_id = $8, order_id = $9,
                checked_out_at = CASE WHEN $2 = 'checked_out'
                                      THEN coalesce(checked_out_at, $10) END
            WHERE cart_id = $1
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
        )
        # Carts are small: rewriting the lines is simpler than diffing them.
        await self._connection.execute(
            f"DELETE FROM {self._schema}.cart_lines WHERE cart_id = $1", cart.cart_id
        )
        await self._connection.executemany(
            f"INSERT INTO {self._schema}.cart_lines (cart_id, sku, quantity, position) "
            "VALUES ($1, $2, $3, $4)",
            [
                (cart.cart_id, sku, quantity, position)
                for position, (sku, quantity) in enumerate(cart.lines.items())
            ],
        )

    # ------------------------------------------------------------------ reorder buffer

    async def waiting(self, cart_id: str) -> list[Waiting]:
        rows = await self._connection.fetch(
            f"SELECT sequence, received_at FROM {self._schema}.pending_cart_events "
            "WHERE cart_id = $1 ORDER BY sequence",
            cart_id,
        )
        return [Waiting(row["sequence"], row["received_at"]) for row in rows]

    async def buffer(self, cart_id: str, envelope: Envelope, now: datetime) -> None:
        assert envelope.sequence is not None
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

    async def take_waiting(self, cart_id: str, sequence: int) -> Envelope:
        """Remove a buffered event and return it."""
        document = await self._connection.fetchval(
            f"DELETE FROM {self._schema}.pending_cart_events "
            "WHERE cart_id = $1 AND sequence = $2 RETURNING envelope",
            cart_id,
            sequence,
        )
        return Envelope.model_validate(document)

    async def with_overdue_gaps(self, cutoff: datetime, limit: int) -> list[str]:
        """Carts whose earliest buffered event arrived at or before ``cutoff``, locked."""
        rows = await self._connection.fetch(
            f"""
            SELECT cart_id FROM {self._schema}.carts
            WHERE cart_id IN (
                SELECT cart_id FROM {self._schema}.pending_cart_events
                GROUP BY cart_id HAVING min(received_at) <= $1
            )
            ORDER BY cart_id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            cutoff,
            limit,
        )
        return [row["cart_id"] for row in rows]

    # ------------------------------------------------------------------ abandonment

    async def idle(self, cutoff: datetime, limit: int) -> list[str]:
        """Open carts with lines and no activity since ``cutoff``, locked."""
        rows = await self._connection.fetch(
            f"""
            SELECT cart_id FROM {self._schema}.carts AS c
            WHERE status = 'open' AND last_activity_at <= $1
              AND EXISTS (SELECT 1 FROM {self._schema}.cart_lines AS l
                          WHERE l.cart_id = c.cart_id)
            ORDER BY last_activity_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            cutoff,
            limit,
        )
        return [row["cart_id"] for row in rows]

    async def mark_abandoned(self, cart_id: str, now: datetime) -> None:
        await self._connection.execute(
            f"UPDATE {self._schema}.carts SET status = 'abandoned', abandoned_at = $2 "
            "WHERE cart_id = $1 AND status = 'open'",
            cart_id,
            now,
        )

    # ------------------------------------------------------------------ ops records

    async def record_unapplied(
        self,
        envelope: Envelope,
        *,
        reason: str,
        detail: str,
        now: datetime,
    ) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.unapplied_cart_events
                (cart_id, event_id, event_type, sequence, reason, detail, recorded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            envelope.aggregate_id,
            envelope.event_id,
            envelope.event_type,
            envelope.sequence,
            reason,
            detail,
            now,
        )

    async def record_skipped(self, cart_id: str, first: int, last: int, now: datetime) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.skipped_cart_sequences
                (cart_id, first_sequence, last_sequence, skipped_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING
            """,
            cart_id,
            first,
            last,
            now,
        )

    async def unapplied(self, cart_id: str) -> list[UnappliedEvent]:
        rows = await self._connection.fetch(
            f"""
            SELECT event_id, event_type, sequence, reason, detail, recorded_at
            FROM {self._schema}.unapplied_cart_events WHERE cart_id = $1 ORDER BY id
            """,
            cart_id,
        )
        return [UnappliedEvent(**dict(row)) for row in rows]

    async def skipped(self, cart_id: str) -> list[SkippedSequences]:
        rows = await self._connection.fetch(
            f"""
            SELECT first_sequence, last_sequence, skipped_at
            FROM {self._schema}.skipped_cart_sequences WHERE cart_id = $1
            ORDER BY first_sequence
            """,
            cart_id,
        )
        return [SkippedSequences(**dict(row)) for row in rows]


def _cart(row: asyncpg.Record, lines: list[asyncpg.Record]) -> Cart:
    last_event_id: Any = row["last_event_id"]
    return Cart(
        cart_id=row["cart_id"],
        status=CartStatus(row["status"]),
        currency=row["currency"],
        lines={line["sku"]: line["quantity"] for line in lines},
        last_sequence=row["last_sequence"],
        last_activity_at=row["last_activity_at"],
        last_event_id=str(last_event_id) if last_event_id is not None else None,
        last_correlation_id=row["last_correlation_id"],
        customer_id=row["customer_id"],
        order_id=row["order_id"],
    )

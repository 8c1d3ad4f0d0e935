"""What the cart did not apply, kept for ops: events refused with their reason, and sequence
numbers given up on (``GET /carts/{cart_id}/unapplied-events``)."""

from __future__ import annotations

from datetime import datetime

from orderflow_chassis.database import Connection
from orderflow_contracts.envelope import Envelope

from orderflow_cart.ports import SkippedSequences, UnappliedEvent, WaitingEvent

LISTED = 500
"""The most unapplied events and skipped ranges listed per cart (the latest): a storefront
sending a cart bad events without end must not make its ops answer grow without end."""


class CartOpsRecords:
    """The ops-record half of :class:`~orderflow_cart.adapters.carts.CartRepository`."""

    _connection: Connection
    _schema: str

    async def record_unapplied(
        self,
        event: Envelope | WaitingEvent,
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
            event.aggregate_id,
            event.event_id,
            event.event_type,
            event.sequence,
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
            FROM {self._schema}.unapplied_cart_events WHERE cart_id = $1
            ORDER BY id DESC LIMIT {LISTED}
            """,
            cart_id,
        )
        return [UnappliedEvent(**dict(row)) for row in reversed(rows)]

    async def skipped(self, cart_id: str) -> list[SkippedSequences]:
        rows = await self._connection.fetch(
            f"""
            SELECT first_sequence, last_sequence, skipped_at
            FROM {self._schema}.skipped_cart_sequences WHERE cart_id = $1
            ORDER BY first_sequence DESC LIMIT {LISTED}
            """,
            cart_id,
        )
        return [SkippedSequences(**dict(row)) for row in reversed(rows)]

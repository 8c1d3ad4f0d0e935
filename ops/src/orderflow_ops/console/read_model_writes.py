"""SQL that fills the console's read model, on the connection of the consuming transaction
(so the read model moves exactly once per event, with the inbox and consumer positions)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from orderflow_chassis.database import Connection
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartCheckedOut, Event

from orderflow_ops.console.projection import (
    OrderView,
    apply_to_order,
    checkout_fact,
    facts_from_data,
    facts_to_data,
    link_ids,
    order_id_of,
    refund_id_of,
    stage_of,
)
from orderflow_ops.invariants import OrderFacts


@dataclass(frozen=True)
class RecordPosition:
    """Where a record was on Kafka (``partition``/``offset`` -1 when not seen)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    traceparent: str | None = None


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as read from its topic, ready to be stored."""

    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    details: dict[str, str]  # its dlq.* headers
    event_id: str | None
    replayed_from: str | None
    failed_at: datetime


class ReadModelWriter:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = schema

    async def record_event(self, event: Event, envelope: Envelope, at: RecordPosition) -> None:
        s, connection = self._schema, self._connection
        occurred_at = envelope.occurred_at
        stage = stage_of(envelope.event_type)
        # One statement per table pair: round trips are most of what an event costs here.
        if stage is not None:
            await connection.execute(
                f"""
                WITH per_minute AS (
                    INSERT INTO {s}.stage_minutes AS m (stage, minute, events)
                    VALUES ($1, date_trunc('minute', $2::timestamptz), 1)
                    ON CONFLICT (stage, minute) DO UPDATE SET events = m.events + 1
                )
                INSERT INTO {s}.stage_totals AS t (stage, events) VALUES ($1, 1)
                ON CONFLICT (stage) DO UPDATE SET events = t.events + 1
                """,
                stage,
                occurred_at,
            )
        linked = link_ids(envelope)
        if linked:
            await connection.execute(
                f"""
                WITH stored AS (
                    INSERT INTO {s}.events (event_id, event_type, topic, kafka_partition,
                        kafka_offset, timestamp_ms, occurred_at, envelope, traceparent)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    ON CONFLICT (event_id) DO NOTHING
                    RETURNING event_id
                )
                INSERT INTO {s}.event_links (linked_id, event_id)
                SELECT linked_id, event_id FROM stored, unnest($10::text[]) AS linked_id
                ON CONFLICT DO NOTHING
                """,
                envelope.event_id,
                envelope.event_type,
                at.topic,
                at.partition,
                at.offset,
                at.timestamp_ms,
                occurred_at,
                envelope.model_dump_json(),
                at.traceparent,
                sorted(linked),
            )
        checkout = checkout_fact(event, envelope)
        if checkout is not None:
            await connection.execute(
                f"""
                INSERT INTO {s}.checkouts AS c (event_id, cart_id, requested_at, answered_at)
                VALUES ($1::uuid, $2, $3, $4)
                ON CONFLICT (event_id) DO UPDATE SET
                    cart_id = coalesce(c.cart_id, excluded.cart_id),
                    requested_at = coalesce(c.requested_at, excluded.requested_at),
                    answered_at = coalesce(c.answered_at, excluded.answered_at)
                """,
                checkout.request_event_id,
                checkout.cart_id,
                checkout.requested_at,
                checkout.answered_at,
            )
        if isinstance(event, CartCheckedOut):
            await self._record_checked_out(event.cart_id, str(event.order_id), occurred_at)
        order_id = order_id_of(event)
        refund_id = refund_id_of(event)
        if refund_id is not None and order_id is not None:
            await connection.execute(
                f"""
                INSERT INTO {s}.refunds (refund_id, event_id, order_id)
                VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                """,
                refund_id,
                envelope.event_id,
                order_id,
            )
        if order_id is not None:
            cart_id = event.cart_id if isinstance(event, CartCheckedOut) else None
            await self._fold_into_order(order_id, event, occurred_at, cart_id)

    async def _record_checked_out(self, cart_id: str, order_id: str, at: datetime) -> None:
        s, connection = self._schema, self._connection
        await connection.execute(
            f"""
            INSERT INTO {s}.cart_orders (cart_id, order_id, checked_out_at, order_placed_at)
            VALUES ($1, $2, $3, (SELECT placed_at FROM {s}.orders WHERE order_id = $2))
            ON CONFLICT DO NOTHING
            """,
            cart_id,
            order_id,
            at,
        )
        await connection.execute(
            f"""
            INSERT INTO {s}.carts_with_several_orders (cart_id)
            SELECT cart_id FROM {s}.cart_orders WHERE cart_id = $1
            GROUP BY cart_id HAVING count(*) > 1
            ON CONFLICT DO NOTHING
            """,
            cart_id,
        )

    async def _fold_into_order(
        self, order_id: str, event: Event, occurred_at: datetime, cart_id: str | None
    ) -> None:
        s = self._schema
        stored = await self._connection.fetchrow(
            f"SELECT facts, state, placed_at FROM {s}.orders WHERE order_id = $1 FOR UPDATE",
            order_id,
        )
        facts = facts_from_data(order_id, stored["facts"]) if stored else OrderFacts(order_id)
        counted_before = stored["state"] if stored and stored["placed_at"] else None
        view = apply_to_order(facts, event, occurred_at)
        await self._save_order(view, cart_id)
        if view.placed_at is not None and (stored is None or stored["placed_at"] is None):
            await self._connection.execute(
                f"UPDATE {s}.cart_orders SET order_placed_at = $2 WHERE order_id = $1",
                order_id,
                view.placed_at,
            )
        counted_now = view.state if view.placed_at is not None else None
        if counted_now != counted_before:
            await self._connection.execute(
                f"""
                INSERT INTO {s}.order_state_counts AS c (state, orders)
                SELECT state, delta FROM unnest($1::text[], $2::bigint[]) AS d(state, delta)
                WHERE state IS NOT NULL
                ON CONFLICT (state) DO UPDATE SET orders = c.orders + excluded.orders
                """,
                [counted_before, counted_now],
                [-1, 1],
            )

    async def _save_order(self, view: OrderView, cart_id: str | None) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.orders AS o (order_id, cart_id, state, placed_at,
                last_event_at, total, currency, facts, violations)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
            ON CONFLICT (order_id) DO UPDATE SET
                cart_id = coalesce(o.cart_id, excluded.cart_id),
                state = excluded.state, placed_at = excluded.placed_at,
                last_event_at = excluded.last_event_at, total = excluded.total,
                currency = excluded.currency, facts = excluded.facts,
                violations = excluded.violations
            """,
            view.order_id,
            cart_id,
            view.state,
            view.placed_at,
            view.last_event_at,
            view.total,
            view.currency,
            facts_to_data(view.facts),
            list(view.violations),
        )

    async def record_dead_letter(self, letter: StoredLetter) -> None:
        """Store a dead letter once (its address on the DLQ is its identity); a dead-lettered
        checkout request counts as answered, as ``check`` has it."""
        details = letter.details
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.dead_letters (dlq_topic, dlq_partition, dlq_offset,
                original_topic, original_partition, original_offset, service, consumer,
                error_code, reason, failed_at, event_id, replayed_from, message_key,
                message_value, headers)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb)
            ON CONFLICT DO NOTHING
            """,
            letter.dlq_topic,
            letter.dlq_partition,
            letter.dlq_offset,
            details.get("original_topic") or letter.dlq_topic.removesuffix(".dlq"),
            _int_or_none(details.get("original_partition")),
            _int_or_none(details.get("original_offset")),
            details.get("service", "?"),
            details.get("consumer", "?"),
            details.get("error_code", "?"),
            details.get("reason", ""),
            letter.failed_at,
            letter.event_id,
            letter.replayed_from,
            letter.key,
            letter.value,
            [[name, base64.b64encode(value).decode()] for name, value in letter.headers],
        )
        request_id = _uuid_or_none(letter.event_id)
        if request_id is not None:
            await self._connection.execute(
                f"""
                UPDATE {self._schema}.checkouts SET answered_at = coalesce(answered_at, $2)
                WHERE event_id = $1
                """,
                request_id,
                letter.failed_at,
            )


def _uuid_or_none(text: str | None) -> uuid.UUID | None:
    try:
        return None if text is None else uuid.UUID(text)
    except ValueError:
        return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None

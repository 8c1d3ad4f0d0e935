"""The read model's writes for one consumed batch: gathered as the chassis hands each event to
the console's handler, written with a few set-based statements just before the batch's
transaction commits (the subscription's ``write_behind``, on the same connection).

So the read model still moves exactly once per event, with the inbox and the consumer
positions, but a batch of N events costs about eight statements instead of about six per
event: round trips (and PostgreSQL's per-statement work) were most of the console's cost.
Each order of the batch is read once (locked, in order-id order), all its events are folded,
and it is judged and stored once.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orderflow_chassis.database import Connection
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartCheckedOut, Event
from orderflow_contracts.primitives import json_text_is_storable

from orderflow_ops.console.projection import (
    CheckoutFact,
    OrderView,
    checkout_fact,
    facts_from_data,
    facts_to_data,
    fold_into_order,
    link_ids,
    order_id_of,
    order_view,
    refund_id_of,
    stage_of,
)
from orderflow_ops.console.read_model_writes import RecordPosition
from orderflow_ops.console.written_facts import WrittenFacts
from orderflow_ops.invariants import OrderFacts

# How far ahead of the console's clock an event's own time is believed: a producer's clock
# may run a little ahead; a stamp further ahead (a wrong clock, a hostile one: the contract
# accepts up to 8999) would pin its order's last event in the future, keeping it from the
# stuck rule and from retention, and add stage minutes no overview ever reaches.
AHEAD_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class PendingEvent:
    event: Event
    envelope: Envelope
    at: RecordPosition
    occurred_at: datetime
    """When the read model counts the event as having happened: its own time, but never
    later than ``AHEAD_TOLERANCE`` after the console read it."""


class BatchProjection:
    """The pending writes of the batch being applied. ``begin`` starts a batch attempt (a
    retried attempt starts afresh: what a rolled-back attempt gathered is dropped), ``add``
    takes each event the inbox let through, ``flush`` writes them all."""

    def __init__(self, schema: str) -> None:
        self._schema = schema
        self._facts = WrittenFacts()
        self._connection: Connection | None = None
        self._pending: dict[str, PendingEvent] = {}  # by event id: a batch applies each once

    def begin(self, connection: Connection) -> None:
        self._connection = connection
        self._pending = {}

    def discard(self) -> None:
        self._connection, self._pending = None, {}

    def add(
        self, connection: Connection, event: Event, envelope: Envelope, at: RecordPosition
    ) -> None:
        if connection is not self._connection:
            # Handlers run between the subscription's lock_ahead and write_behind, on the
            # batch's connection; anything else would write outside the batch's transaction.
            raise RuntimeError("an event was handled outside the batch the console began")
        believed = min(envelope.occurred_at, datetime.now(UTC) + AHEAD_TOLERANCE)
        self._pending[str(envelope.event_id)] = PendingEvent(event, envelope, at, believed)

    async def flush(self) -> None:
        connection, pending = self._connection, list(self._pending.values())
        # The batch's connection is kept: a batch applied with savepoints writes per record.
        self._pending = {}
        if connection is None or not pending:
            return
        writes = _BatchWrites(connection, self._schema, self._facts)
        placed_now = await writes.orders(pending)
        await writes.stages(pending)
        await writes.events_and_links(pending)
        await writes.checkouts(pending)
        await writes.cart_orders(pending, placed_now)
        await writes.refunds(pending)


class _BatchWrites:
    def __init__(self, connection: Connection, schema: str, facts: WrittenFacts) -> None:
        self._connection = connection
        self._s = schema
        self._facts = facts

    async def orders(self, pending: list[PendingEvent]) -> dict[str, datetime]:
        """Fold the batch's events into their orders; returns the orders placed by this batch
        (their placed_at), whose cart's row learns it."""
        by_order: dict[str, list[PendingEvent]] = {}
        for item in pending:
            order_id = order_id_of(item.event)
            if order_id is not None:
                by_order.setdefault(order_id, []).append(item)
        if not by_order:
            return {}
        s = self._s
        order_ids = sorted(by_order)
        kept = self._facts.take(order_ids)
        stored = {
            row["order_id"]: row
            for row in await self._connection.fetch(
                f"""
                SELECT o.order_id, o.state, o.placed_at,
                    CASE WHEN o.written_by = k.flush AND o.xmin::text = k.version THEN NULL
                        ELSE o.facts END AS facts
                FROM {s}.orders o
                LEFT JOIN unnest($2::text[], $3::uuid[], $4::text[])
                    AS k(order_id, flush, version) USING (order_id)
                WHERE o.order_id = ANY($1::text[]) ORDER BY o.order_id FOR UPDATE OF o
                """,
                order_ids,
                list(kept),
                [flush for flush, _, _ in kept.values()],
                [version for _, version, _ in kept.values()],
            )
        }
        views: list[tuple[OrderView, str | None]] = []
        state_deltas: Counter[str] = Counter()
        placed_now: dict[str, datetime] = {}
        for order_id, items in by_order.items():
            row = stored.get(order_id)
            if row is None:
                facts = OrderFacts(order_id)
            elif row["facts"] is None:  # the row holds what this console wrote last
                facts = kept[order_id][2]
            else:
                facts = facts_from_data(order_id, row["facts"])
            cart_id = None
            for item in items:
                fold_into_order(facts, item.event, item.occurred_at)
                if cart_id is None and isinstance(item.event, CartCheckedOut):
                    cart_id = item.event.cart_id
            view = order_view(facts)
            views.append((view, cart_id))
            counted_before = row["state"] if row and row["placed_at"] else None
            counted_now = view.state if view.placed_at is not None else None
            if counted_now != counted_before:
                if counted_before is not None:
                    state_deltas[counted_before] -= 1
                if counted_now is not None:
                    state_deltas[counted_now] += 1
            if view.placed_at is not None and (row is None or row["placed_at"] is None):
                placed_now[order_id] = view.placed_at
        await self._save_orders(views)
        changed = {state: delta for state, delta in state_deltas.items() if delta}
        if changed:
            await self._connection.execute(
                f"""
                INSERT INTO {s}.order_state_counts AS c (state, orders)
                SELECT * FROM unnest($1::text[], $2::bigint[])
                ON CONFLICT (state) DO UPDATE SET orders = c.orders + excluded.orders
                """,
                list(changed),
                list(changed.values()),
            )
        return placed_now

    async def _save_orders(self, views: list[tuple[OrderView, str | None]]) -> None:
        flush = uuid.uuid4()
        written = await self._connection.fetch(
            f"""
            INSERT INTO {self._s}.orders AS o (order_id, cart_id, state, placed_at,
                last_event_at, total, currency, facts, violations, written_by)
            SELECT order_id, cart_id, state, placed_at, last_event_at, total, currency,
                facts::jsonb, ARRAY(SELECT jsonb_array_elements_text(violations::jsonb)),
                $10::uuid
            FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                $5::timestamptz[], $6::numeric[], $7::text[], $8::text[], $9::text[])
                AS v(order_id, cart_id, state, placed_at, last_event_at, total, currency,
                    facts, violations)
            ON CONFLICT (order_id) DO UPDATE SET
                cart_id = coalesce(o.cart_id, excluded.cart_id),
                state = excluded.state, placed_at = excluded.placed_at,
                last_event_at = excluded.last_event_at, total = excluded.total,
                currency = excluded.currency, facts = excluded.facts,
                violations = excluded.violations, written_by = excluded.written_by
            RETURNING order_id, xmin::text AS version
            """,
            [view.order_id for view, _ in views],
            [cart_id for _, cart_id in views],
            [view.state for view, _ in views],
            [view.placed_at for view, _ in views],
            [view.last_event_at for view, _ in views],
            [view.total for view, _ in views],
            [view.currency for view, _ in views],
            [json.dumps(facts_to_data(view.facts)) for view, _ in views],
            [json.dumps(list(view.violations)) for view, _ in views],
            flush,
        )
        facts = {view.order_id: view.facts for view, _ in views}
        self._facts.keep(
            {row["order_id"]: (flush, row["version"], facts[row["order_id"]]) for row in written}
        )

    async def stages(self, pending: list[PendingEvent]) -> None:
        per_minute: Counter[tuple[str, datetime]] = Counter()
        for item in pending:
            stage = stage_of(item.envelope.event_type)
            if stage is not None:
                minute = item.occurred_at.replace(second=0, microsecond=0)
                per_minute[(stage, minute)] += 1
        if not per_minute:
            return
        s = self._s
        await self._connection.execute(
            f"""
            WITH counted AS (
                SELECT stage, date_trunc('minute', minute) AS minute, events
                FROM unnest($1::text[], $2::timestamptz[], $3::bigint[])
                    AS c(stage, minute, events)
            ), per_minute AS (
                INSERT INTO {s}.stage_minutes AS m (stage, minute, events)
                SELECT stage, minute, sum(events) FROM counted GROUP BY stage, minute
                ON CONFLICT (stage, minute) DO UPDATE SET events = m.events + excluded.events
            )
            INSERT INTO {s}.stage_totals AS t (stage, events)
            SELECT stage, sum(events) FROM counted GROUP BY stage
            ON CONFLICT (stage) DO UPDATE SET events = t.events + excluded.events
            """,
            [stage for stage, _ in per_minute],
            [minute for _, minute in per_minute],
            list(per_minute.values()),
        )

    async def events_and_links(self, pending: list[PendingEvent]) -> None:
        linked = [(item, sorted(link_ids(item.envelope))) for item in pending]
        linked = [(item, ids) for item, ids in linked if ids]
        if not linked:
            return
        s = self._s
        await self._connection.execute(
            f"""
            WITH stored AS (
                INSERT INTO {s}.events (event_id, event_type, topic, kafka_partition,
                    kafka_offset, timestamp_ms, occurred_at, envelope, traceparent)
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[],
                    $5::bigint[], $6::bigint[], $7::timestamptz[], $8::text[], $9::text[])
                ON CONFLICT (event_id) DO NOTHING
                RETURNING event_id
            )
            INSERT INTO {s}.event_links (linked_id, event_id)
            SELECT l.linked_id, l.event_id
            FROM unnest($10::text[], $11::uuid[]) AS l(linked_id, event_id)
            JOIN stored USING (event_id)
            ON CONFLICT DO NOTHING
            """,
            [item.envelope.event_id for item, _ in linked],
            [item.envelope.event_type for item, _ in linked],
            [item.at.topic for item, _ in linked],
            [item.at.partition for item, _ in linked],
            [item.at.offset for item, _ in linked],
            [item.at.timestamp_ms for item, _ in linked],
            [item.envelope.occurred_at for item, _ in linked],
            [_envelope_json(item) for item, _ in linked],
            [item.at.traceparent for item, _ in linked],
            [linked_id for _, ids in linked for linked_id in ids],
            [item.envelope.event_id for item, ids in linked for _ in ids],
        )

    async def checkouts(self, pending: list[PendingEvent]) -> None:
        # A request and its answer may be in one batch: merged first (one row, one statement),
        # the earlier-known value of each field winning as the stored one does.
        merged: dict[str, CheckoutFact] = {}
        for item in pending:
            fact = checkout_fact(item.event, item.envelope, item.occurred_at)
            if fact is None:
                continue
            known = merged.get(fact.request_event_id)
            merged[fact.request_event_id] = fact if known is None else _merged(known, fact)
        if not merged:
            return
        facts = list(merged.values())
        await self._connection.execute(
            f"""
            INSERT INTO {self._s}.checkouts AS c (event_id, cart_id, requested_at, answered_at)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[])
            ON CONFLICT (event_id) DO UPDATE SET
                cart_id = coalesce(c.cart_id, excluded.cart_id),
                requested_at = coalesce(c.requested_at, excluded.requested_at),
                answered_at = coalesce(c.answered_at, excluded.answered_at)
            """,
            [fact.request_event_id for fact in facts],
            [fact.cart_id for fact in facts],
            [fact.requested_at for fact in facts],
            [fact.answered_at for fact in facts],
        )

    async def cart_orders(
        self, pending: list[PendingEvent], placed_now: dict[str, datetime]
    ) -> None:
        """Carts checked out into orders, after the orders are stored (an order placed in this
        batch or before is placed for its cart), and the carts now with several orders."""
        s = self._s
        checked_out = [
            (item.event.cart_id, str(item.event.order_id), item.occurred_at)
            for item in pending
            if isinstance(item.event, CartCheckedOut)
        ]
        if checked_out:
            carts = [cart_id for cart_id, _, _ in checked_out]
            await self._connection.execute(
                f"""
                INSERT INTO {s}.cart_orders (cart_id, order_id, checked_out_at, order_placed_at)
                SELECT c.cart_id, c.order_id, c.at, o.placed_at
                FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS c(cart_id, order_id, at)
                LEFT JOIN {s}.orders o USING (order_id)
                ON CONFLICT DO NOTHING
                """,
                carts,
                [order_id for _, order_id, _ in checked_out],
                [at for _, _, at in checked_out],
            )
            await self._connection.execute(
                f"""
                INSERT INTO {s}.carts_with_several_orders (cart_id)
                SELECT cart_id FROM {s}.cart_orders WHERE cart_id = ANY($1::text[])
                GROUP BY cart_id HAVING count(*) > 1
                ON CONFLICT DO NOTHING
                """,
                sorted(set(carts)),
            )
        if placed_now:
            await self._connection.execute(
                f"""
                UPDATE {s}.cart_orders c SET order_placed_at = p.placed_at
                FROM unnest($1::text[], $2::timestamptz[]) AS p(order_id, placed_at)
                WHERE c.order_id = p.order_id
                """,
                list(placed_now),
                list(placed_now.values()),
            )

    async def refunds(self, pending: list[PendingEvent]) -> None:
        issued = [
            (refund_id, item.envelope.event_id, order_id)
            for item in pending
            if (refund_id := refund_id_of(item.event)) is not None
            and (order_id := order_id_of(item.event)) is not None
        ]
        if issued:
            await self._connection.execute(
                f"""
                INSERT INTO {self._s}.refunds (refund_id, event_id, order_id)
                SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])
                ON CONFLICT DO NOTHING
                """,
                [refund_id for refund_id, _, _ in issued],
                [event_id for _, event_id, _ in issued],
                [order_id for _, _, order_id in issued],
            )


def _envelope_json(item: PendingEvent) -> str:
    """The envelope as its record carried it (UTF-8 JSON the chassis decoded and validated),
    rather than serialised again, which showed in the console's profile. Unless a string in
    it may hold a lone surrogate (only in a field the contract ignores): the order's page
    could not read it back, so it is kept as the event reads (``Envelope.as_read``)."""
    if item.at.value is not None and json_text_is_storable(item.at.value):
        return item.at.value.decode("utf-8")
    return item.envelope.as_read(item.event).model_dump_json()


def _merged(known: CheckoutFact, later: CheckoutFact) -> CheckoutFact:
    return CheckoutFact(
        known.request_event_id,
        known.cart_id if known.cart_id is not None else later.cart_id,
        known.requested_at if known.requested_at is not None else later.requested_at,
        known.answered_at if known.answered_at is not None else later.answered_at,
    )

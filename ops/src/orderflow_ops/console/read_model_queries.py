"""SQL the pages read the console's read model with (its own schema only)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from orderflow_chassis.dlq_cli import StoredDeadLetter
from orderflow_contracts.primitives import parse_uuid

from orderflow_ops.event_log import LoggedEvent, stored_envelope

MAX_TIMELINE_HOPS = 6  # order -> cart, shipments, RMAs -> their events: a few hops suffice
# An order's journey is a few dozen events; a page never walks, reads or renders more than this
# (a link shared by many orders, as request ids once were, cannot make one page read them all).
MAX_TIMELINE_EVENTS = 2000


@dataclass(frozen=True)
class DeadLetterFilter:
    """What the dead-letter page shows and "replay all matching" replays."""

    topic: str | None = None
    service: str | None = None
    error_code: str | None = None

    def where(self, first_parameter: int = 1) -> tuple[str, list[Any]]:
        clauses, values = [], []
        for column, value in (
            ("dlq_topic", self.topic),
            ("service", self.service),
            ("error_code", self.error_code),
        ):
            if value:
                values.append(value)
                clauses.append(f"{column} = ${first_parameter + len(values) - 1}")
        return (" AND ".join(clauses) or "true"), values

    def describe(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (
                ("topic", self.topic),
                ("service", self.service),
                ("reason", self.error_code),
            )
            if value
        ]
        return ", ".join(parts) or "all dead letters"


@dataclass(frozen=True)
class ReplaySelection:
    """What one replay sends: the letters at ``addresses`` or, when none is named, every letter
    matching ``letters``. ``request_id`` is its confirmation page's: each request posting that
    page continues the same replay after the last letter it sent (see replay.py)."""

    request_id: UUID
    letters: DeadLetterFilter
    addresses: Sequence[tuple[str, int, int]] = ()


class ReadModelQueries:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._s = schema

    async def stage_totals(self) -> dict[str, int]:
        rows = await self._pool.fetch(f"SELECT stage, events FROM {self._s}.stage_totals")
        return {row["stage"]: row["events"] for row in rows}

    async def stage_rates(self, now: datetime, minutes: int) -> dict[str, list[int]]:
        """Events per minute of each stage over the last ``minutes`` (oldest first)."""
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
        rows = await self._pool.fetch(
            f"SELECT stage, minute, events FROM {self._s}.stage_minutes"
            " WHERE minute >= $1 AND minute < $2",
            start,
            start + timedelta(minutes=minutes),
        )
        rates: dict[str, list[int]] = {}
        for row in rows:
            index = int((row["minute"] - start).total_seconds() // 60)
            if 0 <= index < minutes:
                rates.setdefault(row["stage"], [0] * minutes)[index] += row["events"]
        return rates

    async def order_states(self) -> dict[str, int]:
        rows = await self._pool.fetch(
            f"SELECT state, orders FROM {self._s}.order_state_counts WHERE orders > 0"
        )
        return {row["state"]: row["orders"] for row in rows}

    async def dead_letters_by_topic(self) -> dict[str, int]:
        rows = await self._pool.fetch(
            f"SELECT dlq_topic, count(*) AS n FROM {self._s}.dead_letters GROUP BY dlq_topic"
        )
        return {row["dlq_topic"]: row["n"] for row in sorted(rows, key=lambda r: r["dlq_topic"])}

    async def search_orders(
        self, text: str | None, state: str | None, limit: int
    ) -> list[asyncpg.Record]:
        clauses: list[str] = ["true"]
        values: list[Any] = []
        if text:
            values += [order_key(text), text]  # a cart id is opaque: compared as given
            clauses.append(f"(order_id = ${len(values) - 1} OR cart_id = ${len(values)})")
        if state:
            values.append(state)
            clauses.append(f"state = ${len(values)}")
        values.append(limit)
        return list(
            await self._pool.fetch(
                f"""
                SELECT order_id, cart_id, state, placed_at, last_event_at, total, currency,
                       violations
                FROM {self._s}.orders WHERE {" AND ".join(clauses)}
                ORDER BY last_event_at DESC LIMIT ${len(values)}
                """,
                *values,
            )
        )

    async def stuck_orders(
        self, limits: dict[str, timedelta], now: datetime, limit: int
    ) -> list[asyncpg.Record]:
        """Orders waiting in a state longer than its SLA, oldest first."""
        return list(
            await self._pool.fetch(
                f"""
                SELECT o.order_id, o.cart_id, o.state, o.placed_at, o.last_event_at, o.total,
                       o.currency, $3::timestamptz - o.last_event_at AS waited,
                       make_interval(secs => sla.seconds) AS sla
                FROM unnest($1::text[], $2::float8[]) AS sla(state, seconds)
                JOIN {self._s}.orders o ON o.state = sla.state
                WHERE o.placed_at IS NOT NULL
                  AND o.last_event_at < $3::timestamptz - make_interval(secs => sla.seconds)
                ORDER BY o.last_event_at LIMIT $4
                """,
                list(limits),
                [limit.total_seconds() for limit in limits.values()],
                now,
                limit,
            )
        )

    async def order(self, order_id: str) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            f"SELECT * FROM {self._s}.orders WHERE order_id = $1", order_id
        )

    async def order_log(self, order_id: str) -> tuple[list[LoggedEvent], bool]:
        """Every stored event of the order or of what it led to (the timeline's fixpoint,
        walked through the link table), as the timeline takes them; and whether the walk was
        cut short (by its bounds: the events, the links read per hop, the hops), so that the
        page does not show part of a journey as the whole of it."""
        related, frontier = {order_id}, [order_id]
        event_ids: set[Any] = set()
        cut = False
        for _ in range(MAX_TIMELINE_HOPS):
            if not frontier:
                break
            rows = await self._pool.fetch(
                f"""
                SELECT l2.linked_id, l2.event_id FROM {self._s}.event_links l1
                JOIN {self._s}.event_links l2 ON l2.event_id = l1.event_id
                WHERE l1.linked_id = ANY($1::text[])
                LIMIT {4 * MAX_TIMELINE_EVENTS}
                """,
                frontier,
            )
            cut = len(rows) >= 4 * MAX_TIMELINE_EVENTS
            event_ids |= {row["event_id"] for row in rows}
            frontier = sorted({row["linked_id"] for row in rows} - related)
            related |= set(frontier)
            if cut or len(event_ids) >= MAX_TIMELINE_EVENTS:
                cut = True
                break
        else:
            cut = bool(frontier)  # ids left to walk when the hops ran out
        rows = await self._pool.fetch(
            f"""
            SELECT topic, kafka_partition, kafka_offset, timestamp_ms, envelope, traceparent
            FROM {self._s}.events WHERE event_id = ANY($1::uuid[])
            ORDER BY occurred_at DESC LIMIT {MAX_TIMELINE_EVENTS}
            """,
            list(event_ids),
        )
        log = [
            LoggedEvent(
                topic=row["topic"],
                partition=row["kafka_partition"],
                offset=row["kafka_offset"],
                timestamp_ms=row["timestamp_ms"],
                envelope=envelope,
            )
            for row in rows
            if (envelope := stored_envelope(row["envelope"])) is not None
        ]
        return log, cut

    async def traceparents(self, order_id: str) -> list[str]:
        rows = await self._pool.fetch(
            f"""
            SELECT DISTINCT e.traceparent FROM {self._s}.event_links l
            JOIN {self._s}.events e USING (event_id)
            WHERE l.linked_id = $1 AND e.traceparent IS NOT NULL
            """,
            order_id,
        )
        return [row["traceparent"] for row in rows]

    async def dead_letters(
        self, selected: DeadLetterFilter, limit: int, *, value_bytes: int
    ) -> list[asyncpg.Record]:
        """The latest letters ``selected`` picks; of each value only its first ``value_bytes``
        (the page shows a preview; a letter may hold a megabyte, and 200 of them were read
        whole on every render during a flood, when the page is open most)."""
        where, values = selected.where()
        return list(
            await self._pool.fetch(
                f"""
                SELECT dlq_topic, dlq_partition, dlq_offset, original_topic, original_partition,
                       original_offset, service, consumer, error_code, reason, failed_at,
                       event_id, replayed_from,
                       substring(message_value FROM 1 FOR {int(value_bytes)}) AS message_value
                FROM {self._s}.dead_letters WHERE {where}
                ORDER BY failed_at DESC LIMIT ${len(values) + 1}
                """,
                *values,
                limit,
            )
        )

    async def dead_letter_choices(self) -> dict[str, list[str]]:
        """The values the filters offer: topics, services and reason codes seen. Each is read
        by skipping along its index from one value to the next (a handful of values, however
        many letters: a flood made every render read the whole table three times)."""
        choices = {}
        for column in ("dlq_topic", "service", "error_code"):
            rows = await self._pool.fetch(
                f"""
                WITH RECURSIVE seen AS (
                    (SELECT {column} AS v FROM {self._s}.dead_letters ORDER BY 1 LIMIT 1)
                    UNION ALL
                    SELECT (SELECT {column} FROM {self._s}.dead_letters
                            WHERE {column} > seen.v ORDER BY 1 LIMIT 1)
                    FROM seen WHERE seen.v IS NOT NULL
                )
                SELECT v FROM seen WHERE v IS NOT NULL
                """
            )
            choices[column] = [row["v"] for row in rows]
        return choices

    async def replay_preview(
        self, selection: ReplaySelection, shown: int
    ) -> tuple[int, list[asyncpg.Record]]:
        """How many letters ``selection`` has still to send, and the first ``shown`` of them:
        their address, event id and consumer, never their bodies (a flood may be 100,000)."""
        where, values = await self._still_to_replay(selection)
        total = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._s}.dead_letters d WHERE {where}", *values
        )
        rows = await self._pool.fetch(
            f"""
            SELECT dlq_topic, dlq_partition, dlq_offset, event_id, consumer
            FROM {self._s}.dead_letters d WHERE {where}
            ORDER BY dlq_topic, dlq_partition, dlq_offset LIMIT ${len(values) + 1}
            """,
            *values,
            shown,
        )
        return total, list(rows)

    async def letters_to_replay(
        self, selection: ReplaySelection, limit: int
    ) -> list[tuple[str, str, StoredDeadLetter]]:
        """The next ``limit`` letters (dlq topic, consumer, letter) ``selection`` has to send, in
        address order, after the last one it sent."""
        where, values = await self._still_to_replay(selection)
        rows = await self._pool.fetch(
            f"""
            SELECT dlq_topic, dlq_partition, dlq_offset, consumer, message_key, message_value,
                   headers
            FROM {self._s}.dead_letters d WHERE {where}
            ORDER BY dlq_topic, dlq_partition, dlq_offset LIMIT ${len(values) + 1}
            """,
            *values,
            limit,
        )
        return [
            (
                row["dlq_topic"],
                row["consumer"],
                StoredDeadLetter(
                    row["dlq_partition"],
                    row["dlq_offset"],
                    row["message_key"],
                    row["message_value"],
                    [(name, base64.b64decode(value)) for name, value in row["headers"]],
                ),
            )
            for row in rows
        ]

    async def replayed_count(self, request_id: UUID, *, not_replayed: bool = False) -> int:
        """Letters the replay ``request_id`` sent (and those it recorded as not replayable,
        with ``not_replayed``)."""
        count: int = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._s}.replay_audit "
            "WHERE request_id = $1 AND ($2 OR outcome <> 'not_replayed')",
            request_id,
            not_replayed,
        )
        return count

    async def replayed_already(self, addresses: Sequence[tuple[str, int, int]]) -> list[str]:
        """Those of the letters at ``addresses`` that an earlier replay got applied or still
        has on its way (:meth:`_replayed_already`), as ``topic:partition:offset``."""
        rows = await self._pool.fetch(
            f"""
            SELECT dlq_topic, dlq_partition, dlq_offset FROM {self._s}.dead_letters d
            WHERE (dlq_topic, dlq_partition, dlq_offset) IN
                  (SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]))
              AND {self._replayed_already()}
            ORDER BY 1, 2, 3
            """,
            [a[0] for a in addresses],
            [a[1] for a in addresses],
            [a[2] for a in addresses],
        )
        return [f"{r['dlq_topic']}:{r['dlq_partition']}:{r['dlq_offset']}" for r in rows]

    def _replayed_already(self) -> str:
        """SQL over ``dead_letters d``: whether a replay of the letter, or of another letter of
        the same event for the same consumer (a letter its replay became, say), was applied or
        is still on its way (its outcome not known yet). Sent again once the consumer's inbox
        has forgotten the event id (its retention), it would be applied twice."""
        return f"""EXISTS (SELECT 1 FROM {self._s}.replay_audit a
                WHERE a.outcome IN ('sent', 'applied')
                  AND ((a.dlq_topic, a.dlq_partition, a.dlq_offset)
                       = (d.dlq_topic, d.dlq_partition, d.dlq_offset)
                       OR (a.consumer = d.consumer AND a.event_id = d.event_id)))"""

    async def _still_to_replay(self, selection: ReplaySelection) -> tuple[str, list[Any]]:
        """SQL over ``dead_letters d``: the selected letters after the last one the request
        sent (letters go in address order), less the letters its own replays became and those
        replayed already (:meth:`_replayed_already`)."""
        if selection.addresses:
            where = (
                "(dlq_topic, dlq_partition, dlq_offset) IN "
                "(SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]))"
            )
            values: list[Any] = [
                [a[0] for a in selection.addresses],
                [a[1] for a in selection.addresses],
                [a[2] for a in selection.addresses],
            ]
        else:
            where, values = selection.letters.where()
        values.append(selection.request_id)
        request = f"${len(values)}"
        where += f"""
            AND NOT EXISTS (SELECT 1 FROM {self._s}.replay_audit a
                WHERE a.request_id = {request} AND a.target_topic = d.original_topic
                  AND a.target_partition = d.original_partition
                  AND a.target_offset = d.original_offset)
            AND NOT {self._replayed_already()}"""
        last = await self._pool.fetchrow(
            f"""
            SELECT dlq_topic, dlq_partition, dlq_offset FROM {self._s}.replay_audit
            WHERE request_id = $1
            ORDER BY dlq_topic DESC, dlq_partition DESC, dlq_offset DESC LIMIT 1
            """,
            selection.request_id,
        )
        if last is not None:
            values += [last["dlq_topic"], last["dlq_partition"], last["dlq_offset"]]
            n = len(values)
            where += f" AND (dlq_topic, dlq_partition, dlq_offset) > (${n - 2}, ${n - 1}, ${n})"
        return where, values

    async def replays(self, limit: int) -> list[asyncpg.Record]:
        return list(
            await self._pool.fetch(
                f"SELECT * FROM {self._s}.replay_audit ORDER BY id DESC LIMIT $1", limit
            )
        )


def order_key(text: str) -> str:
    """An order id as the read model stores it: a UUID in its canonical (lower case) form,
    however its case was typed; any other text as it is."""
    found = parse_uuid(text)
    return str(found) if found is not None else text

"""SQL on the outbox table for the relay and the operators' commands.

The relay claims pending rows, stamps the ones Kafka acknowledged, and counts refusals; a row
Kafka keeps refusing for good is *parked* (``parked_at``) with its error so that the rows behind
it keep flowing. Operators list parked rows and un-park them after a fix
(``orderflow-<service> outbox parked|retry``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orderflow_chassis.database import Connection, delete_in_chunks
from orderflow_chassis.outbox import decode_headers, notify_channel
from orderflow_chassis.settings import validate_identifier

# Kafka's errors are short; the cap keeps a pathological one from bloating the row.
_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class OutboxRow:
    """One unsent row, ready to be produced."""

    id: int
    topic: str
    key: str
    payload: bytes
    headers: list[tuple[str, bytes]]
    attempts: int
    traceparent: str | None = None  # sent as the record's ``traceparent`` header
    event_type: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A row Kafka refused in this round, and why."""

    row: OutboxRow
    error: str


@dataclass(frozen=True)
class OutboxCounts:
    pending: int
    parked: int


async def claim_pending(
    connection: Connection, schema: str, limit: int, *, skip_keys: Sequence[str] = ()
) -> list[OutboxRow]:
    """Lock the oldest unsent, unparked rows for this round's transaction, in id order, but
    none of ``skip_keys`` (held back for now: all of a key's rows are, so its order is kept).

    Never "id greater than the last one seen": an id is assigned before commit, so a lower id
    can become visible after a higher one and would be skipped for good.
    """
    validate_identifier(schema)
    rows = await connection.fetch(
        f"""
        SELECT id, topic, message_key, payload, headers, attempts, traceparent, event_type
        FROM {schema}.outbox
        WHERE sent_at IS NULL AND parked_at IS NULL
          -- a hashed subplan: one probe a row, however many keys are held back
          AND message_key NOT IN (SELECT unnest($2::text[]))
        ORDER BY id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
        """,
        limit,
        list(skip_keys),
    )
    return [
        OutboxRow(
            id=row["id"],
            topic=row["topic"],
            key=row["message_key"],
            payload=row["payload"],
            headers=decode_headers(row["headers"]),
            attempts=row["attempts"],
            traceparent=row["traceparent"],
            event_type=row["event_type"],
        )
        for row in rows
    ]


async def stamp_sent(connection: Connection, schema: str, ids: Sequence[int]) -> None:
    if ids:
        await connection.execute(
            f"UPDATE {schema}.outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", list(ids)
        )


async def record_refusals(
    connection: Connection, schema: str, refusals: Sequence[Refusal], *, park: bool
) -> None:
    """Count one more attempt with its error; ``park`` sets the rows aside for an operator."""
    if not refusals:
        return
    await connection.execute(
        f"""
        UPDATE {schema}.outbox AS o
        SET attempts = o.attempts + 1,
            last_error = r.error,
            parked_at = CASE WHEN $3 THEN clock_timestamp() END
        FROM unnest($1::bigint[], $2::text[]) AS r(id, error)
        WHERE o.id = r.id
        """,
        [refusal.row.id for refusal in refusals],
        [refusal.error[:_MAX_ERROR_CHARS] for refusal in refusals],
        park,
    )


async def outbox_counts(connection: Connection, schema: str) -> OutboxCounts:
    validate_identifier(schema)
    row = await connection.fetchrow(
        f"""
        SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending,
               count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked
        FROM {schema}.outbox
        WHERE sent_at IS NULL
        """
    )
    assert row is not None
    return OutboxCounts(pending=int(row["pending"]), parked=int(row["parked"]))


async def purge_sent(
    connection: Connection, schema: str, retention: timedelta, *, chunk: int = 5_000
) -> int:
    """Delete sent rows older than the retention period, in chunks (``delete_in_chunks``);
    returns how many."""
    validate_identifier(schema)
    return await delete_in_chunks(
        connection, f"{schema}.outbox", "sent_at < now() - $1::interval", retention, chunk=chunk
    )


@dataclass(frozen=True)
class ParkedRow:
    id: int
    event_id: str
    topic: str
    key: str
    event_type: str
    payload_bytes: int
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "topic": self.topic,
            "key": self.key,
            "event_type": self.event_type,
            "payload_bytes": self.payload_bytes,
            "attempts": self.attempts,
            "error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "parked_at": self.parked_at.isoformat(),
        }


async def list_parked(connection: Connection, schema: str) -> list[ParkedRow]:
    validate_identifier(schema)
    rows = await connection.fetch(
        f"""
        SELECT id, event_id, topic, message_key, event_type, octet_length(payload) AS size,
               attempts, last_error, created_at, parked_at
        FROM {schema}.outbox
        WHERE sent_at IS NULL AND parked_at IS NOT NULL
        ORDER BY id
        """
    )
    return [
        ParkedRow(
            id=row["id"],
            event_id=str(row["event_id"]),
            topic=row["topic"],
            key=row["message_key"],
            event_type=row["event_type"],
            payload_bytes=row["size"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            parked_at=row["parked_at"],
        )
        for row in rows
    ]


async def unpark(connection: Connection, schema: str, ids: Sequence[int] | None) -> int:
    """Give parked rows (``None``: all of them) fresh attempts; returns how many.

    An un-parked row is published after the rows of its aggregate that flowed past it: the
    operator trades order for delivery, so consumers must tolerate that event arriving late.
    """
    validate_identifier(schema)
    async with connection.transaction():
        result = await connection.execute(
            f"""
            UPDATE {schema}.outbox
            SET parked_at = NULL, attempts = 0
            WHERE sent_at IS NULL AND parked_at IS NOT NULL
              AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
            """,
            None if ids is None else list(ids),
        )
        await connection.execute("SELECT pg_notify($1, '')", notify_channel(schema))
    return int(result.split()[-1])

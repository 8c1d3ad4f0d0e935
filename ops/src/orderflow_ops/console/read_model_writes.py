"""SQL that stores dead letters in the console's read model, and the positions of records
(the events' writes are :mod:`orderflow_ops.console.read_model_batch`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from orderflow_chassis.database import Connection
from orderflow_chassis.dead_letters import original_topic
from orderflow_chassis.outbox import encode_headers


@dataclass(frozen=True)
class RecordPosition:
    """Where a record was on Kafka (``partition``/``offset`` -1 when not seen)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    traceparent: str | None = None
    value: bytes | None = None  # the record as published: the envelope's JSON


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
            original_topic(details, letter.dlq_topic),
            _int_or_none(details.get("original_partition"), _INTEGER),
            _int_or_none(details.get("original_offset"), _BIGINT),
            details.get("service", "?"),
            details.get("consumer", "?"),
            details.get("error_code", "?"),
            details.get("reason", ""),
            letter.failed_at,
            letter.event_id,
            letter.replayed_from,
            letter.key,
            letter.value,
            encode_headers(letter.headers),
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


_INTEGER, _BIGINT = 2**31, 2**63  # the columns' bounds


def _int_or_none(text: str | None, bound: int) -> int | None:
    """The number ``text`` writes, if its column can hold it: a dead letter's headers are
    whatever reached the topic, and one value the column refused would have the letter read
    again for ever (stored as unknown instead)."""
    try:
        number = None if text is None else int(text)
    except ValueError:
        return None
    return number if number is not None and -bound <= number < bound else None

"""The inbox: the event ids a consumer group has applied, written with the effects.

A duplicate delivery (the relay re-publishing after a crash, a producer's retry, a replay of an
already applied event) finds its id here and is skipped. Rows are only needed for as long as
such a duplicate can still arrive, so they are purged by age (``inbox_retention_hours``, longer
than the outbox's re-publish window and Kafka's retention of the topics read).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from orderflow_contracts.envelope import Envelope

from orderflow_chassis.database import Connection, delete_in_chunks
from orderflow_chassis.settings import validate_identifier

log = structlog.get_logger(__name__)


# Refused records are kept under an id derived from their bytes (see ``first_refusal``).
_REFUSALS = uuid.UUID("5d0c1c4e-8a5e-4d8e-9a35-8f3c0e0b7a11")
REFUSED = "(refused)"
"""The ``event_type`` of an inbox row kept for a refused record."""


def refusal_id(record: ConsumerRecord) -> uuid.UUID:
    """The id a refused record is kept under: its key and value, byte for byte (a copy of the
    record, a producer's retry, has the same; its event id, when it has one, may be anyone's)."""
    key, value = record.key or b"", record.value or b""
    digest = hashlib.sha256(len(key).to_bytes(8, "big") + key + value).hexdigest()
    return uuid.uuid5(_REFUSALS, digest)


class Inbox:
    def __init__(self, schema: str) -> None:
        self.schema = validate_identifier(schema)

    async def first_delivery(
        self, connection: Connection, consumer: str, envelope: Envelope, record: ConsumerRecord
    ) -> bool:
        """Record ``envelope`` as applied by ``consumer``; False when it already was."""
        return await self._first(
            connection, consumer, envelope.event_id, envelope.event_type, record
        )

    async def _first(
        self,
        connection: Connection,
        consumer: str,
        event_id: uuid.UUID,
        event_type: str,
        record: ConsumerRecord,
    ) -> bool:
        inserted = await connection.fetchval(
            f"""
            INSERT INTO {self.schema}.inbox
                (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT DO NOTHING
            RETURNING true
            """,
            consumer,
            event_id,
            event_type,
            record.topic,
            record.partition,
            record.offset,
        )
        return bool(inserted)

    async def first_deliveries(
        self,
        connection: Connection,
        consumer: str,
        deliveries: Sequence[tuple[Envelope, ConsumerRecord]],
    ) -> set[uuid.UUID]:
        """Record a batch's envelopes as applied by ``consumer`` in one statement; returns the
        event ids that were not recorded before (a duplicate within the batch counts once).

        Like one insert per envelope, it waits for another transaction inserting the same id
        to finish, and then reports it as already applied.
        """
        if not deliveries:
            return set()
        rows = await connection.fetch(
            f"""
            INSERT INTO {self.schema}.inbox
                (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
            SELECT $1, d.event_id, d.event_type, d.topic, d.kafka_partition, d.kafka_offset
            FROM unnest($2::uuid[], $3::text[], $4::text[], $5::integer[], $6::bigint[])
                 AS d(event_id, event_type, topic, kafka_partition, kafka_offset)
            ON CONFLICT DO NOTHING
            RETURNING event_id
            """,
            consumer,
            [envelope.event_id for envelope, _ in deliveries],
            [envelope.event_type for envelope, _ in deliveries],
            [record.topic for _, record in deliveries],
            [record.partition for _, record in deliveries],
            [record.offset for _, record in deliveries],
        )
        return {row["event_id"] for row in rows}

    async def first_refusal(
        self, connection: Connection, consumer: str, record: ConsumerRecord
    ) -> bool:
        """Record ``record``'s refusal as answered by ``consumer``; False when a copy of it
        was answered before (its sender is answered once, as an applied event is applied
        once)."""
        return await self._first(connection, consumer, refusal_id(record), REFUSED, record)

    async def purge(self, pool: asyncpg.Pool, *, older_than: timedelta, chunk: int = 5_000) -> int:
        """Delete rows applied longer ago than ``older_than``, in short transactions."""
        deleted = await delete_in_chunks(
            pool,
            f"{self.schema}.inbox",
            "processed_at < now() - $1::interval",
            older_than,
            chunk=chunk,
        )
        if deleted:
            log.info("inbox.purged", rows=deleted, older_than_hours=older_than / timedelta(hours=1))
        return deleted

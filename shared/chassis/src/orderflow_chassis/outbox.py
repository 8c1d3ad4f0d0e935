"""The transactional outbox: events are written in the transaction that causes them.

Handlers never publish. They call :meth:`Outbox.add` with the connection of their own
transaction, so the state change and the events it emits commit (or vanish) together. The
relay (:mod:`orderflow_chassis.relay`) then publishes committed rows to Kafka and stamps them
sent.

Ordering starts here. Rows of one aggregate are serialised at write time by the per-aggregate
sequence upsert (its row lock is held to commit), so their ids follow commit order; the relay
publishes one aggregate's rows in id order.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event

from orderflow_chassis import tracing
from orderflow_chassis.database import Connection
from orderflow_chassis.dead_letters import DeadLetter
from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options
from orderflow_chassis.settings import validate_identifier

DEAD_LETTER_EVENT_TYPE = "DeadLetter"


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


def storable(text: str) -> str:
    """``text`` as PostgreSQL text and jsonb can hold it: they refuse NUL (U+0000), which a
    dead letter can inherit from a hostile key or header name."""
    return text.replace("\x00", "\ufffd")


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    return [[storable(name), base64.b64encode(value).decode()] for name, value in headers]


def decode_headers(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
    return [(name, base64.b64decode(value)) for name, value in stored]


class Outbox:
    """Writes outgoing events into ``<schema>.outbox`` inside the caller's transaction."""

    def __init__(self, schema: str, producer: str, *, topic_prefix: str = "") -> None:
        self.schema = validate_identifier(schema)
        self.producer = producer
        self.topic_prefix = topic_prefix

    async def add(
        self,
        connection: Connection,
        event: Event,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        topic: str | None = None,
    ) -> Envelope:
        """Record ``event`` for publication; returns the envelope that will be published.

        Must run inside the transaction that makes the state change the event reports.
        ``topic`` overrides the event's contract topic (tests use private topics).
        """
        if not connection.is_in_transaction():
            raise RuntimeError("Outbox.add must run inside the handler's transaction")
        aggregate_id = event.aggregate_id
        sequence = await connection.fetchval(
            f"""
            INSERT INTO {self.schema}.outbox_sequences AS s (aggregate_id, last_sequence)
            VALUES ($1, 1)
            ON CONFLICT (aggregate_id) DO UPDATE SET last_sequence = s.last_sequence + 1
            RETURNING last_sequence
            """,
            aggregate_id,
        )
        envelope = Envelope.wrap(
            event,
            producer=self.producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
            sequence=sequence,
        )
        headers = [
            ("content-type", b"application/json"),
            ("event_type", envelope.event_type.encode()),
            ("event_id", str(envelope.event_id).encode()),
            ("correlation_id", correlation_id.encode()),
        ]
        await self._insert(
            connection,
            event_id=envelope.event_id,
            topic=topic or self.topic_prefix + type(event).topic,
            key=aggregate_id,
            payload=envelope.to_bytes(),
            headers=headers,
            event_type=envelope.event_type,
            traceparent=tracing.current_traceparent(),
        )
        return envelope

    async def add_dead_letter(self, connection: Connection, letter: DeadLetter) -> None:
        """Record a dead letter; it is published like any event, so it is never lost either."""
        key = letter.key.decode("utf-8", "replace") if letter.key is not None else ""
        await self._insert(
            connection,
            event_id=uuid.uuid4(),
            topic=letter.topic,
            key=key,
            payload=letter.value,
            headers=letter.kafka_headers(),
            event_type=DEAD_LETTER_EVENT_TYPE,
        )

    async def _insert(
        self,
        connection: Connection,
        *,
        event_id: uuid.UUID,
        topic: str,
        key: str,
        payload: bytes,
        headers: Sequence[tuple[str, bytes]],
        event_type: str,
        traceparent: str | None = None,
    ) -> None:
        # One round trip: the row, and the relay's wake-up (delivered at commit only, and
        # folded into one notification per transaction).
        await connection.execute(
            f"""
            WITH added AS (
                INSERT INTO {self.schema}.outbox
                    (event_id, topic, message_key, payload, headers, event_type, traceparent)
                VALUES ($1, $2, $3, $4, $5, $6, $8)
                RETURNING id
            )
            SELECT pg_notify($7, '') FROM added
            """,
            event_id,
            topic,
            storable(key),
            payload,
            encode_headers(headers),
            event_type,
            notify_channel(self.schema),
            traceparent,
        )


def create_producer(
    bootstrap_servers: str, *, client_id: str, security: KafkaSecurity | None = None
) -> AIOKafkaProducer:
    """The only producer settings this project uses: idempotent, acks=all.

    Idempotence keeps retried sends from duplicating or reordering records within a
    partition; acks=all waits for every in-sync replica. ``security`` defaults to the
    environment's Kafka security settings.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=30_000,
        **kafka_client_options(security),
    )

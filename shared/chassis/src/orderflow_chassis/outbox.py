"""The transactional outbox: events are written in the transaction that causes them.

Handlers never publish. They call :meth:`Outbox.add` with the connection of their own
transaction, so the state change and the events it emits commit (or vanish) together. The
relay (:mod:`orderflow_chassis.relay`) then publishes committed rows to Kafka and stamps them
sent.

A unit of work does not write each event as it is emitted: :class:`EmittedEvents` keeps them
until the transaction is about to commit and writes them all with two statements (round trips
were most of what an emitted event cost).

Ordering starts here. Rows of one aggregate are serialised at write time by the per-aggregate
sequence upsert (its row lock is held to commit), so their ids follow commit order; the relay
publishes one aggregate's rows in id order. The upsert takes its rows in aggregate-id order,
so two transactions writing for the same aggregates queue instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.uuids import uuid7

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
    dead letter can inherit from a hostile key or header name, and a lone surrogate, which a
    JSON escape in one can write (``"\\ud800"``). Each becomes U+FFFD."""
    if "\x00" not in text and text.isascii():
        return text
    return (
        text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")
    )


def envelope_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """The Kafka headers an event is published with: what a consumer reads before decoding
    (the type it skips an event by, its id, its journey)."""
    return [
        ("content-type", b"application/json"),
        ("event_type", envelope.event_type.encode()),
        ("event_id", str(envelope.event_id).encode()),
        ("correlation_id", envelope.correlation_id.encode()),
    ]


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    return [[storable(name), base64.b64encode(value).decode()] for name, value in headers]


def decode_headers(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
    return [(name, base64.b64decode(value)) for name, value in stored]


@dataclass(frozen=True)
class PendingEvent:
    """An event emitted in a transaction and not yet written to the outbox. Its id, time and
    trace context are fixed when it is emitted; its sequence number when it is written."""

    event: Event
    correlation_id: str
    causation_id: str | None = None
    topic: str | None = None
    event_id: uuid.UUID = field(default_factory=uuid7)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = field(default_factory=tracing.current_traceparent)


@dataclass(frozen=True)
class _Row:
    event_id: uuid.UUID
    topic: str
    key: str
    payload: bytes
    headers: Sequence[tuple[str, bytes]]
    event_type: str
    traceparent: str | None = None


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
        """Record one event for publication; returns the envelope that will be published.

        Must run inside the transaction that makes the state change the event reports.
        ``topic`` overrides the event's contract topic (tests use private topics).
        """
        pending = PendingEvent(event, correlation_id, causation_id, topic)
        (envelope,) = await self.write(connection, [pending])
        return envelope

    async def write(
        self, connection: Connection, pending: Sequence[PendingEvent]
    ) -> list[Envelope]:
        """Record ``pending`` for publication, in their order, with two statements: the
        aggregates' sequence numbers, then the rows. Returns the envelopes to be published."""
        if not connection.is_in_transaction():
            raise RuntimeError("the outbox is written inside the transaction of the change")
        if not pending:
            return []
        sequences = await self._next_sequences(connection, pending)
        rows: list[_Row] = []
        envelopes: list[Envelope] = []
        for item in pending:
            aggregate_id = item.event.aggregate_id
            envelope = Envelope.wrap(
                item.event,
                producer=self.producer,
                correlation_id=item.correlation_id,
                causation_id=item.causation_id,
                sequence=sequences[aggregate_id],
                event_id=item.event_id,
                occurred_at=item.occurred_at,
            )
            sequences[aggregate_id] += 1
            headers = envelope_headers(envelope)
            topic = item.topic or self.topic_prefix + type(item.event).topic
            rows.append(
                _Row(
                    envelope.event_id,
                    topic,
                    aggregate_id,
                    envelope.to_bytes(),
                    headers,
                    envelope.event_type,
                    item.traceparent,
                )
            )
            envelopes.append(envelope)
        await self._insert(connection, rows)
        return envelopes

    async def _next_sequences(
        self, connection: Connection, pending: Sequence[PendingEvent]
    ) -> dict[str, int]:
        """The first sequence number of each aggregate's events in ``pending``, reserved (and
        the aggregate's sequence row locked to commit) with one statement."""
        counts = Counter(item.event.aggregate_id for item in pending)
        aggregates = sorted(counts)
        reserved = await connection.fetch(
            f"""
            INSERT INTO {self.schema}.outbox_sequences AS s (aggregate_id, last_sequence)
            SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1
            ON CONFLICT (aggregate_id) DO UPDATE
                SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
            RETURNING aggregate_id, last_sequence
            """,
            aggregates,
            [counts[aggregate] for aggregate in aggregates],
        )
        return {
            row["aggregate_id"]: row["last_sequence"] - counts[row["aggregate_id"]] + 1
            for row in reserved
        }

    async def add_dead_letter(self, connection: Connection, letter: DeadLetter) -> None:
        """Record a dead letter; it is published like any event, so it is never lost either."""
        key = letter.key.decode("utf-8", "replace") if letter.key is not None else ""
        row = _Row(
            uuid7(),
            letter.topic,
            key,
            letter.value,
            letter.kafka_headers(),
            DEAD_LETTER_EVENT_TYPE,
        )
        await self._insert(connection, [row])

    async def _insert(self, connection: Connection, rows: Sequence[_Row]) -> None:
        # One round trip: the rows, in order (their ids follow it), and the relay's wake-up
        # (delivered at commit only, and folded into one notification per transaction).
        await connection.execute(
            f"""
            WITH added AS (
                INSERT INTO {self.schema}.outbox
                    (event_id, topic, message_key, payload, headers, event_type, traceparent)
                SELECT event_id, topic, message_key, payload, headers::jsonb, event_type,
                       traceparent
                FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[],
                            $6::text[], $7::text[])
                     WITH ORDINALITY AS r(event_id, topic, message_key, payload, headers,
                                          event_type, traceparent, position)
                ORDER BY position
                RETURNING id
            )
            SELECT pg_notify($8, '') FROM added LIMIT 1
            """,
            [row.event_id for row in rows],
            [row.topic for row in rows],
            [storable(row.key) for row in rows],
            [row.payload for row in rows],
            [json.dumps(encode_headers(row.headers)) for row in rows],
            [row.event_type for row in rows],
            [row.traceparent for row in rows],
            notify_channel(self.schema),
        )


class EmittedEvents:
    """What one transaction's use cases emit, kept until :meth:`write` just before commit.

    It is the :class:`~orderflow_chassis.unit_of_work.Emitter` of every unit of work on that
    transaction. A use case undone inside it (a savepoint rolled back) takes its events back
    with :meth:`undo_since`.
    """

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._pending: list[PendingEvent] = []

    async def __call__(
        self, event: Event, *, correlation_id: str, causation_id: str | None, topic: str | None
    ) -> None:
        self._pending.append(PendingEvent(event, correlation_id, causation_id, topic))

    def mark(self) -> int:
        return len(self._pending)

    def undo_since(self, mark: int) -> None:
        del self._pending[mark:]

    async def write(self, connection: Connection) -> None:
        """Write what was emitted to the outbox, on the transaction's ``connection``."""
        pending, self._pending = self._pending, []
        await self._outbox.write(connection, pending)


# How long the producer waits for a broker's answer to a request. It also bounds how long the
# relay waits for Kafka's acknowledgements of a wave (relay_sending.py, decision 64).
PRODUCER_REQUEST_TIMEOUT_S = 30.0


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
        request_timeout_ms=int(PRODUCER_REQUEST_TIMEOUT_S * 1000),
        **kafka_client_options(security),
    )


async def start_producer(producer: AIOKafkaProducer, *, timeout_s: float) -> None:
    """Start ``producer`` within ``timeout_s``: aiokafka waits for a producer id for as long as
    Kafka does not answer. A producer that did not start is stopped (it holds nothing) and the
    error raised: ``TimeoutError`` when Kafka did not answer in time."""
    try:
        async with asyncio.timeout(timeout_s):
            await producer.start()
    except BaseException:
        await stop_producer(producer, flush_s=0)
        raise


async def stop_producer(producer: AIOKafkaProducer, *, flush_s: float, close_s: float = 1.0) -> int:
    """Stop ``producer`` within about ``flush_s + 2 * close_s``; returns how many records it
    still held after ``flush_s``, abandoned undelivered.

    aiokafka's ``stop()`` first waits for every record the producer holds, and an idempotent
    producer retries a record forever while the error can pass (a partition below its
    min.insync.replicas, a leader out of reach): that wait never ends. So what is not delivered
    within ``flush_s`` is failed first (aiokafka has no public way to). ``stop()`` then waits
    for the requests in flight, up to the request timeout: closing the connections ends them.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(flush_s):
            await producer.flush()
    accumulator = producer._message_accumulator
    held = [*accumulator._pending_batches, *(b for q in accumulator._batches.values() for b in q)]
    abandoned: int = sum(batch.record_count for batch in held if not batch.future.done())
    accumulator.fail_all(KafkaError("the producer was stopped before Kafka acknowledged it"))
    # Not cancelled midway: a stop() cancelled before it stops the sender leaves it retrying.
    stopping = asyncio.ensure_future(producer.stop())
    if not (await asyncio.wait([stopping], timeout=close_s))[0]:
        await producer.client.close()
        if not (await asyncio.wait([stopping], timeout=close_s))[0]:
            stopping.cancel()
    return abandoned

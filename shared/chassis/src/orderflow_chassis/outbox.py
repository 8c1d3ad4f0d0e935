"""The transactional outbox and the relay that publishes it.

Handlers never publish. They call :meth:`Outbox.add` with the connection of their own
transaction, so the state change and the events it emits commit (or vanish) together. The
:class:`OutboxRelay` then publishes committed rows to Kafka with an idempotent, acks=all
producer and stamps them sent.

Ordering. Rows of one aggregate are serialised at write time by the per-aggregate sequence
upsert (its row lock is held to commit), so their ids follow commit order. Only one relay per
service publishes at a time (a PostgreSQL advisory lock elects it), and it publishes claimed
rows in id order, so one aggregate's events reach its partition in order. Rows are claimed with
``FOR UPDATE SKIP LOCKED``, never "id greater than the last one seen": an id is assigned before
commit, so a lower id can become visible after a higher one and would be skipped for good.

A crash after publishing and before the sent stamp commits re-publishes those rows; consumers
drop the duplicates through their inbox. Publish at least once, apply exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event

from orderflow_chassis import metrics
from orderflow_chassis.database import Connection
from orderflow_chassis.dead_letters import DeadLetter
from orderflow_chassis.settings import validate_identifier

log = structlog.get_logger(__name__)

DEAD_LETTER_EVENT_TYPE = "DeadLetter"


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    return [[name, base64.b64encode(value).decode()] for name, value in headers]


def _decode_headers(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
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
    ) -> None:
        await connection.execute(
            f"""
            INSERT INTO {self.schema}.outbox
                (event_id, topic, message_key, payload, headers, event_type)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            event_id,
            topic,
            key,
            payload,
            _encode_headers(headers),
            event_type,
        )
        # Delivered at commit only, and folded into one notification per transaction.
        await connection.execute("SELECT pg_notify($1, '')", notify_channel(self.schema))


AfterPublish = Callable[[Sequence[asyncpg.Record]], Awaitable[None]]


class OutboxRelay:
    """Publishes committed outbox rows of one service schema, in order, at least once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        schema: str,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        retention: timedelta = timedelta(hours=72),
        after_publish: AfterPublish | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = validate_identifier(schema)
        self._service = service
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._retention = retention
        self._after_publish = after_publish
        self._wake = asyncio.Event()
        self.is_leader = False
        self.last_error: str | None = None

    async def run(self) -> None:
        """Elect, then publish until cancelled; survives database and broker outages."""
        delay = 0.2
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("outbox.relay_failed", error=self.last_error, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                delay = 0.2

    async def _lead(self) -> None:
        # The leader connection holds the advisory lock for as long as it lives; if this
        # process dies, PostgreSQL drops the connection and another instance takes over.
        async with self._pool.acquire() as leader:
            await self._wait_for_leadership(leader)
            self._set_leader(True)
            channel = notify_channel(self._schema)
            await leader.add_listener(channel, self._on_notify)
            try:
                await self._publish_loop()
            finally:
                self._set_leader(False)
                with contextlib.suppress(Exception):
                    await leader.remove_listener(channel, self._on_notify)
                    await leader.execute(
                        "SELECT pg_advisory_unlock(hashtext($1))", f"{self._schema}.relay"
                    )

    async def _wait_for_leadership(self, connection: Connection) -> None:
        # Standby instances poll: a blocking pg_advisory_lock could not be interrupted cleanly.
        while True:
            if await connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"{self._schema}.relay"
            ):
                return
            await asyncio.sleep(2.0)

    def _set_leader(self, leader: bool) -> None:
        self.is_leader = leader
        metrics.RELAY_IS_LEADER.labels(self._service).set(1 if leader else 0)
        log.info("outbox.relay_leadership", leader=leader)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_loop(self) -> None:
        purge_every = 600
        rounds = 0
        while True:
            self._wake.clear()
            published = await self.publish_pending()
            self.last_error = None
            rounds += 1
            if rounds % purge_every == 0:
                await self.purge_sent()
            if published == self._batch_size:
                continue  # more are probably waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval_s)

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                f"""
                SELECT id, topic, message_key, payload, headers
                FROM {self._schema}.outbox
                WHERE sent_at IS NULL
                ORDER BY id
                LIMIT $1
                FOR UPDATE SKIP LOCKED
                """,
                self._batch_size,
            )
            if not rows:
                metrics.OUTBOX_BACKLOG.labels(self._service).set(0)
                return 0
            deliveries = [
                await self._producer.send(
                    row["topic"],
                    value=row["payload"],
                    key=row["message_key"].encode(),
                    headers=_decode_headers(row["headers"]),
                )
                for row in rows
            ]
            # acks=all: every record is on all in-sync replicas before we stamp it sent.
            await asyncio.gather(*deliveries)
            if self._after_publish is not None:
                await self._after_publish(rows)
            await connection.execute(
                f"UPDATE {self._schema}.outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(self._service, row["topic"]).inc()
        log.debug("outbox.published", count=len(rows))
        return len(rows)

    async def purge_sent(self) -> int:
        """Delete sent rows older than the retention period."""
        result = await self._pool.execute(
            f"DELETE FROM {self._schema}.outbox WHERE sent_at < now() - $1::interval",
            self._retention,
        )
        return int(result.split()[-1])

    async def unsent_count(self) -> int:
        count = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._schema}.outbox WHERE sent_at IS NULL"
        )
        metrics.OUTBOX_BACKLOG.labels(self._service).set(count)
        return int(count)


def create_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """The only producer settings this project uses: idempotent, acks=all.

    Idempotence keeps retried sends from duplicating or reordering records within a
    partition; acks=all waits for every in-sync replica.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=30_000,
    )

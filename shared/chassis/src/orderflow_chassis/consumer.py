"""Idempotent, transactional batch consumption with dead letters and retries.

For each batch FastStream hands over (several partitions may be mixed):

1. One database transaction applies the whole batch.
   * Each partition's *consumer position* (next offset to apply) is read under a row lock;
     records below it were already applied before a crash and are skipped. This is what
     keeps a redelivered poison message from being dead-lettered twice.
   * Each record is decoded; contract errors (bad bytes, bad envelope, unknown event type,
     invalid data) become dead letters.
   * Known events this consumer has no handler for are skipped (topics are shared).
   * Otherwise, inside a savepoint, the event id is inserted into the inbox (a duplicate is
     skipped) and the handler runs with the same connection; whatever it emits goes to the
     outbox. A permanent failure rolls the savepoint back and writes a dead letter instead.
2. After commit, the Kafka offsets are committed (MANUAL ack). A crash between the two
   redelivers the batch, and step 1 drops every record of it.

A transient failure (database or broker unavailable, serialisation conflict) rolls the whole
batch back and retries it with exponential backoff; when attempts run out, the batch's
partitions are rewound (nack) so Kafka redelivers them. A partition never skips ahead.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError
from orderflow_contracts.events import Event

from orderflow_chassis import metrics
from orderflow_chassis.database import Connection
from orderflow_chassis.dead_letters import DeadLetter
from orderflow_chassis.errors import PermanentError, is_transient
from orderflow_chassis.outbox import Outbox

log = structlog.get_logger(__name__)


@dataclass
class HandlerContext:
    """What a handler gets besides its event: its transaction and a way to emit events."""

    connection: Connection
    envelope: Envelope
    outbox: Outbox

    async def emit(self, event: Event, *, topic: str | None = None) -> Envelope:
        """Record ``event`` in the outbox, caused by (and correlated with) this envelope."""
        return await self.outbox.add(
            self.connection,
            event,
            correlation_id=self.envelope.correlation_id,
            causation_id=str(self.envelope.event_id),
            topic=topic,
        )


class Handler(Protocol):
    def __call__(self, event: Any, context: HandlerContext, /) -> Awaitable[None]: ...


PayloadInspector = Callable[[bytes], None]
"""Runs on the raw bytes before decoding; raises PermanentError to refuse a record."""

BatchHook = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consumer group of a service: the topics it reads and a handler per event type."""

    name: str
    topics: Sequence[str]
    handlers: Mapping[type[Event], Handler]
    inspect_payload: PayloadInspector | None = None


@dataclass
class ConsumerHooks:
    """Observation points, used by tests to crash a process at the worst moment."""

    after_commit: BatchHook | None = None


@dataclass
class _Outcomes:
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, topic: str, event_type: str, outcome: str) -> None:
        key = (topic, event_type, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1


class EventConsumer:
    """Applies one subscription's records to the service's database, exactly once."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        pool: asyncpg.Pool,
        outbox: Outbox,
        service: str,
        group_id: str,
        retry_attempts: int = 8,
        retry_initial_delay_s: float = 0.1,
        retry_max_delay_s: float = 5.0,
        hooks: ConsumerHooks | None = None,
    ) -> None:
        self.subscription = subscription
        self._pool = pool
        self._outbox = outbox
        self._schema = outbox.schema
        self._service = service
        self.group_id = group_id
        self._retry_attempts = retry_attempts
        self._retry_initial_delay_s = retry_initial_delay_s
        self._retry_max_delay_s = retry_max_delay_s
        self._hooks = hooks or ConsumerHooks()
        self.last_batch_at: float | None = None

    def register(
        self,
        broker: KafkaBroker,
        *,
        max_records: int,
        batch_timeout_ms: int,
        topic_prefix: str = "",
    ) -> None:
        """Declare the FastStream subscriber: explicit group, earliest, manual acks."""
        subscriber = broker.subscriber(
            *(topic_prefix + topic for topic in self.subscription.topics),
            group_id=self.group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=batch_timeout_ms,
            # Offsets are committed by us, after the database commit (never ACK_FIRST).
            ack_policy=AckPolicy.MANUAL,
            # A new group must see history, not only what arrives after it joins.
            auto_offset_reset="earliest",
            # Raw bytes reach the handler: decoding is ours, so failures become dead letters.
            decoder=_keep_raw_bytes,
            title=f"{self._service}.{self.subscription.name}",
            description=f"Consumer group {self.group_id}",
        )
        subscriber(self._on_batch)

    async def _on_batch(self, message: KafkaMessage) -> None:
        raw = message.raw_message
        records = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        try:
            await self.apply_with_retry(records)
        except Exception:
            log.exception("consumer.batch_rewound", consumer=self.group_id, records=len(records))
            await message.nack()
            return
        if self._hooks.after_commit is not None:
            await self._hooks.after_commit(records)
        try:
            await message.ack()
        except KafkaError as error:
            # E.g. a rebalance moved the partition: the next owner redelivers, and the
            # consumer positions committed with the effects drop the duplicates.
            log.warning("consumer.offset_commit_failed", consumer=self.group_id, error=str(error))

    async def apply_with_retry(self, records: Sequence[ConsumerRecord]) -> None:
        delay = self._retry_initial_delay_s
        for attempt in range(1, self._retry_attempts + 1):
            try:
                await self.apply(records)
                return
            except Exception as error:
                if not is_transient(error) or attempt == self._retry_attempts:
                    raise
                metrics.BATCH_RETRIES.labels(self._service, self.group_id).inc()
                log.warning(
                    "consumer.transient_failure",
                    consumer=self.group_id,
                    attempt=attempt,
                    error=f"{type(error).__name__}: {error}",
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_delay_s)

    async def apply(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply a batch in one transaction (see the module docstring)."""
        started = time.perf_counter()
        outcomes = _Outcomes()
        async with self._pool.acquire() as connection, connection.transaction():
            positions = await self._lock_positions(connection, records)
            for record in records:
                partition_key = (record.topic, record.partition)
                if record.offset < positions[partition_key]:
                    outcomes.add(record.topic, "", "skipped_redelivery")
                    continue
                await self._apply_record(connection, record, outcomes)
                positions[partition_key] = record.offset + 1
            await self._save_positions(connection, positions)
        self.last_batch_at = time.time()
        metrics.BATCH_SECONDS.labels(self._service, self.group_id).observe(
            time.perf_counter() - started
        )
        for (topic, event_type, outcome), count in outcomes.counts.items():
            metrics.EVENTS_CONSUMED.labels(
                self._service, self.group_id, topic, event_type, outcome
            ).inc(count)

    async def _lock_positions(
        self, connection: Connection, records: Sequence[ConsumerRecord]
    ) -> dict[tuple[str, int], int]:
        partitions = sorted({(r.topic, r.partition) for r in records})
        topics = [t for t, _ in partitions]
        numbers = [p for _, p in partitions]
        # Create missing rows first so FOR UPDATE has something to lock: this serialises
        # a zombie consumer with the partition's new owner during a rebalance.
        await connection.execute(
            f"""
            INSERT INTO {self._schema}.consumer_positions
                (consumer, topic, kafka_partition, next_offset)
            SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p)
            ON CONFLICT DO NOTHING
            """,
            self.group_id,
            topics,
            numbers,
        )
        rows = await connection.fetch(
            f"""
            SELECT topic, kafka_partition, next_offset
            FROM {self._schema}.consumer_positions
            WHERE consumer = $1
              AND (topic, kafka_partition) IN
                  (SELECT t, p FROM unnest($2::text[], $3::int[]) AS u(t, p))
            ORDER BY topic, kafka_partition
            FOR UPDATE
            """,
            self.group_id,
            topics,
            numbers,
        )
        return {(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}

    async def _save_positions(
        self, connection: Connection, positions: Mapping[tuple[str, int], int]
    ) -> None:
        await connection.executemany(
            f"""
            UPDATE {self._schema}.consumer_positions
            SET next_offset = $4, updated_at = now()
            WHERE consumer = $1 AND topic = $2 AND kafka_partition = $3
            """,
            [(self.group_id, t, p, offset) for (t, p), offset in positions.items()],
        )

    async def _apply_record(
        self, connection: Connection, record: ConsumerRecord, outcomes: _Outcomes
    ) -> None:
        value: bytes = record.value or b""
        try:
            if self.subscription.inspect_payload is not None:
                self.subscription.inspect_payload(value)
            envelope = Envelope.from_bytes(value)
            event = envelope.parse_event()
        except ContractError as error:
            await self._dead_letter(connection, record, error.code, error.reason)
            outcomes.add(record.topic, "", "dead_lettered")
            return
        except PermanentError as error:
            await self._dead_letter(connection, record, error.code, error.reason, error)
            outcomes.add(record.topic, "", "dead_lettered")
            return

        handler = self.subscription.handlers.get(type(event))
        if handler is None:
            outcomes.add(record.topic, envelope.event_type, "ignored")
            return
        with structlog.contextvars.bound_contextvars(
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            correlation_id=envelope.correlation_id,
            aggregate_id=envelope.aggregate_id,
        ):
            try:
                async with connection.transaction():  # a savepoint inside the batch
                    first_time = await connection.fetchval(
                        f"""
                        INSERT INTO {self._schema}.inbox
                            (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT DO NOTHING
                        RETURNING true
                        """,
                        self.group_id,
                        envelope.event_id,
                        envelope.event_type,
                        record.topic,
                        record.partition,
                        record.offset,
                    )
                    if not first_time:
                        outcomes.add(record.topic, envelope.event_type, "duplicate")
                        log.info("consumer.duplicate_skipped")
                        return
                    await handler(event, HandlerContext(connection, envelope, self._outbox))
            except Exception as error:
                if is_transient(error):
                    raise
                code, reason = _describe(error)
                log.warning("consumer.dead_lettered", error_code=code, reason=reason)
                await self._dead_letter(connection, record, code, reason, error)
                outcomes.add(record.topic, envelope.event_type, "dead_lettered")
                return
            outcomes.add(record.topic, envelope.event_type, "applied")

    async def _dead_letter(
        self,
        connection: Connection,
        record: ConsumerRecord,
        code: str,
        reason: str,
        error: BaseException | None = None,
    ) -> None:
        value = record.value or b""
        if isinstance(error, PermanentError) and error.redacted_payload is not None:
            value = error.redacted_payload
        letter = DeadLetter(
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=value,
            headers=list(record.headers or ()),
            error_code=code,
            reason=reason,
            service=self._service,
            consumer=self.group_id,
        )
        await self._outbox.add_dead_letter(connection, letter)
        metrics.DEAD_LETTERS.labels(self._service, record.topic, code).inc()
        log.warning(
            "consumer.dead_letter",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_code=code,
            reason=reason,
        )


def _describe(error: BaseException) -> tuple[str, str]:
    if isinstance(error, PermanentError):
        return error.code, error.reason
    # An unexpected exception is a bug: dead-letter it (replayable after the fix) rather
    # than block the partition forever. The last frame says where it happened.
    frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    return "handler_failed", f"{type(error).__name__}: {error}{where}"


def _keep_raw_bytes(message: Any) -> Any:
    return message.body

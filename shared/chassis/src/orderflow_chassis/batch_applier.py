"""Applying a batch of records to the service's database, exactly once, with dead letters and
retries (:class:`BatchApplier`; :mod:`orderflow_chassis.consumer` hands it what Kafka
delivers).

A batch may mix several partitions; its records are applied in timestamp order, each
partition's order kept.

* One database transaction applies the whole batch.
* Each partition's *consumer position* is read under a row lock (see
  :mod:`orderflow_chassis.positions`); records below it were applied before a crash and are
  skipped, so a redelivered poison record is not dead-lettered twice.
* A record whose ``event_type`` header names a type this consumer has no handler for is
  skipped without decoding: topics are shared, and a newer producer may publish event types
  (or schema versions) this consumer does not know yet, alongside the ones it does.
* Every other record is screened for card data, then decoded. A contract violation (bad
  bytes, bad envelope, invalid data) or a screening refusal becomes a dead letter; so does any
  failure of the screening or decoding itself (it is bounded, and it must never stall a
  partition). A valid envelope of an unhandled type or a newer schema version is skipped.
* Otherwise the event id is taken into the inbox (a duplicate is skipped) and the handler runs
  in a unit of work on the same connection. What the batch's handlers emit is written to the
  outbox together, after the last one (two statements).
* Before the first handler runs, the subscription's ``lock_ahead`` (if any) takes every lock
  the batch's handlers will need, in one global order, so that instances applying crossing
  batches queue instead of deadlocking. After the last, its ``write_behind`` (if any) stores
  what the handlers deferred, a statement or two for the whole batch.
* A batch whose every record announces a type this consumer has no handler for (shared topics
  make that common) costs no statement: the positions past it are stored with the next batch
  applied from its partitions, or by one statement before Kafka's offsets are committed past it
  (:meth:`store_passed_over`, before each commit: see :mod:`orderflow_chassis.offset_commits`).
  At low rates most batches are such batches, one record each.

Records are applied without a savepoint each. A ``PermanentError`` from a handler rolls the
batch back, and it is applied again at once with a savepoint per record: that record's
savepoint is rolled back, what its handler emitted is taken back, and a dead letter is written
instead.

Failures that are not the event's fault never dead-letter it. A transient failure (database or
broker unavailable, query cancelled, serialisation conflict) rolls the whole batch back and
retries it with exponential backoff and jitter, without limit: when the in-process attempts run
out, the caller rewinds the partitions and Kafka redelivers them. An unexpected exception in a
handler (most likely a bug) is retried the same way, but only ``handler_attempts`` times for
that record; then the record is dead-lettered with every failure it met, and the partition
moves on. A partition never skips ahead otherwise.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import ConsumerRecord

from orderflow_chassis import metrics, tracing
from orderflow_chassis.consumer_decoding import Decoded, PassedOver, RecordDecoder, Refused
from orderflow_chassis.consumer_records import event_type_label, header
from orderflow_chassis.database import Connection, acquired
from orderflow_chassis.dead_letters import dead_letter_of
from orderflow_chassis.errors import PermanentError, describe_error, is_transient
from orderflow_chassis.handler_failures import HANDLER_FAILED, describe_failure, history_reason
from orderflow_chassis.inbox import Inbox
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.outbox import EmittedEvents
from orderflow_chassis.positions import ConsumerPositions, TopicIdentity
from orderflow_chassis.refusal_answers import RefusalAnswers
from orderflow_chassis.retry import call_with_retry
from orderflow_chassis.structured_logging import bind_event_context
from orderflow_chassis.subscriptions import BatchHook, ConsumerHooks, RetryPolicy, Subscription
from orderflow_chassis.unit_of_work import DatabaseTransactions, UnitOfWork

log = structlog.get_logger(__name__)


@dataclass
class _Outcomes:
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, topic: str, event_type: str, outcome: str) -> None:
        key = (topic, event_type_label(event_type), outcome)
        self.counts[key] = self.counts.get(key, 0) + 1


@dataclass(frozen=True)
class _Refusal:
    """A record refused before its handler (already dead-lettered), to answer in its turn."""

    record: ConsumerRecord
    code: str
    reason: str


class _RefusedWithoutSavepoint(Exception):
    """A handler refused a record (or the deferred writes failed) in a batch applied without
    savepoints: apply it again with them, so that only that record is undone."""


class _HandlerFailed(Exception):
    """An unexpected handler exception, recorded against its record; the batch is retried."""


RecordAddress = tuple[str, int, int]
_MAX_TRACKED_FAILURES = 10_000


class BatchApplier:
    """Applies one subscription's batches to the service's database, exactly once."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        pool: asyncpg.Pool,
        transactions: DatabaseTransactions[Any],
        service: str,
        group_id: str,
        bootstrap_servers: str,
        kafka_security: KafkaSecurity | None = None,
        retry: RetryPolicy | None = None,
        hooks: ConsumerHooks | None = None,
        headers_not_trusted_on: Collection[str] = (),
        home_topics: Mapping[str, str] | None = None,
    ) -> None:
        self.subscription = subscription
        self._pool = pool
        self._transactions = transactions
        self._outbox = outbox = transactions.outbox
        self.service = service
        self.group_id = group_id
        self._retry = retry or RetryPolicy()
        self.hooks = hooks or ConsumerHooks()
        self._inbox = Inbox(outbox.schema)
        self._positions = ConsumerPositions(outbox.schema, group_id, service=service)
        self._topic_ids = TopicIdentity(bootstrap_servers, security=kafka_security)
        self._decoder = RecordDecoder(
            subscription.handlers,
            subscription.inspect_record,
            headers_not_trusted_on=headers_not_trusted_on,
            home_topics=home_topics,
        )
        self._answers = RefusalAnswers(
            subscription.answer_refusal, producer=service, inbox=self._inbox, consumer=group_id
        )
        # Unexpected failures per record, kept across retries and rewinds of its batch.
        self._failures: dict[RecordAddress, list[str]] = {}
        # (topic, code) of the batch's dead letters: counted once it commits, not per attempt.
        self._dead_lettered: list[tuple[str, str]] = []
        # Records the batch applied or dead-lettered: their failures are forgotten once it
        # commits. Forgotten before, a record dead-lettered for its failures in a pass that a
        # later record's refusal rolled back started again from none in the savepoint pass,
        # failed its attempts anew, and the batch never committed.
        self._settled: list[RecordAddress] = []
        self._handler_seconds = {
            event_type: metrics.HANDLER_SECONDS.labels(service, event_type)
            for event_type in self._decoder.handlers
        }

    async def apply_with_retry(self, records: Sequence[ConsumerRecord]) -> None:
        def on_retry(attempt: int, error: BaseException, delay: float) -> None:
            metrics.BATCH_RETRIES.labels(self.service, self.group_id).inc()
            log.warning(
                "consumer.batch_retry",
                consumer=self.group_id,
                attempt=attempt,
                error=describe_error(error),
                retry_in_s=round(delay, 3),
            )

        async def apply() -> None:
            try:
                await self.apply(records)
            except _RefusedWithoutSavepoint:
                await self.apply(records, savepoints=True)

        await call_with_retry(
            apply,
            self._retry.backoff,
            retry_if=lambda error: is_transient(error) or isinstance(error, _HandlerFailed),
            on_retry=on_retry,
        )

    async def apply(self, records: Sequence[ConsumerRecord], *, savepoints: bool = False) -> None:
        """Apply a batch in one transaction (see the module docstring).

        Records are applied without a savepoint each (two round trips saved per record); when
        a handler refuses one (``PermanentError``) the batch is rolled back and applied again
        with ``savepoints``, so that record alone is undone and dead-lettered.
        """
        started = time.perf_counter()
        outcomes = _Outcomes()
        self._dead_lettered, self._settled = [], []
        await self._topic_ids.refresh(sorted({r.topic for r in records}))
        if self._decoder.passes_over(records):
            # Shared topics: many batches hold nothing for this consumer. Their positions are
            # stored later, with others (see the module docstring).
            await observe(self.hooks.before_commit, records)
            self._positions.pass_over_later(records)
            for record in records:
                outcomes.add(record.topic, header(record, "event_type") or "", "ignored")
            self._finished(started, outcomes)
            return
        async with acquired(self._pool) as connection, connection.transaction():
            positions = await self._positions.lock(connection, records, self._topic_ids)
            steps: list[Decoded | _Refusal] = []
            for record in records:
                partition_key = (record.topic, record.partition)
                if record.offset < positions[partition_key]:
                    outcomes.add(record.topic, "", "skipped_redelivery")
                    continue
                step = await self._prepare(connection, record, outcomes)
                if step is not None:
                    steps.append(step)
                positions[partition_key] = record.offset + 1
            prepared = [step for step in steps if isinstance(step, Decoded)]
            # Without savepoints the batch's inbox rows go in with one statement; with them,
            # each goes in its record's savepoint, so a dead-lettered record leaves none.
            fresh = None
            if not savepoints:
                fresh = await self._inbox.first_deliveries(
                    connection,
                    self.group_id,
                    [(p.envelope, p.record) for p in prepared if not self._exhausted(p.record)],
                )
            emitted = EmittedEvents(self._outbox)
            if self.subscription.lock_ahead is not None and prepared:
                unit = self._transactions.unit(connection, emitted)
                await self.subscription.lock_ahead([p.event for p in prepared], unit)
            for item in steps:
                if isinstance(item, _Refusal):  # answered in its place among the batch's events
                    await self._answers.answer(
                        connection, item.record, item.code, item.reason, emitted
                    )
                    continue
                logged = bind_event_context(item.envelope)
                try:
                    with tracing.consuming(item.record, item.envelope, service=self.service):
                        outcome = await self._handle(connection, item, fresh, emitted)
                finally:
                    structlog.contextvars.reset_contextvars(**logged)
                outcomes.add(item.record.topic, item.envelope.event_type, outcome)
            if self.subscription.write_behind is not None and prepared and not savepoints:
                await self._write_behind(self._transactions.unit(connection, emitted))
            await emitted.write(connection)
            await self._positions.save(connection, positions, self._topic_ids)
            await observe(self.hooks.before_commit, records)
        self._positions.settled(positions)
        for address in self._settled:
            self._failures.pop(address, None)
        self._finished(started, outcomes)

    def keep_only(self, assigned: Collection[tuple[str, int]]) -> None:
        """A rebalance left these partitions to this consumer (see
        :meth:`~orderflow_chassis.positions.ConsumerPositions.keep_only`)."""
        self._positions.keep_only(assigned)

    async def store_passed_over(self) -> None:
        """Store the positions past the batches passed over since the last call (one
        statement, if there were any); called before Kafka's offsets are committed past them,
        so a restart never finds Kafka's offset ahead of a stored position (a false gap)."""
        if self._positions.passing_over():
            async with acquired(self._pool) as connection:
                await self._positions.store_passed_over(connection, self._topic_ids)

    async def _write_behind(self, unit: UnitOfWork[Any]) -> None:
        """The batch's deferred writes. A failure that is not transient is some record's: the
        batch is applied again with savepoints, where each record's writes go in after its
        handler and a failure is that record's (retried, then dead-lettered, as a handler's)."""
        assert self.subscription.write_behind is not None
        try:
            await self.subscription.write_behind(unit)
        except Exception as error:
            if is_transient(error):
                raise
            log.warning("consumer.write_behind_failed", error=describe_error(error))
            raise _RefusedWithoutSavepoint from error

    def _finished(self, started: float, outcomes: _Outcomes) -> None:
        for topic, code in self._dead_lettered:
            metrics.DEAD_LETTERS.labels(self.service, topic, code).inc()
        metrics.BATCH_SECONDS.labels(self.service, self.group_id).observe(
            time.perf_counter() - started
        )
        for (topic, event_type, outcome), count in outcomes.counts.items():
            metrics.EVENTS_CONSUMED.labels(
                self.service, self.group_id, topic, event_type, outcome
            ).inc(count)

    async def _prepare(
        self, connection: Connection, record: ConsumerRecord, outcomes: _Outcomes
    ) -> Decoded | _Refusal | None:
        """Screen and decode a record; dead-letter it (its sender answered in its turn) or pass
        over it, or say how to apply it."""
        result = self._decoder.decode(record)
        if isinstance(result, Refused):
            reason = await self._dead_letter(
                connection, record, result.code, result.reason, result.error
            )
            outcomes.add(record.topic, result.event_type, "dead_lettered")
            return _Refusal(record, result.code, reason)
        if isinstance(result, PassedOver):
            outcomes.add(record.topic, result.event_type, result.outcome)
            return None
        return result

    def _exhausted(self, record: ConsumerRecord) -> bool:
        history = self._failures.get((record.topic, record.partition, record.offset), [])
        return len(history) >= self._retry.handler_attempts

    async def _handle(
        self,
        connection: Connection,
        item: Decoded,
        fresh: set[uuid.UUID] | None,
        emitted: EmittedEvents,
    ) -> str:
        """Run the handler once per event id; ``fresh``: the ids the batch's inbox took."""
        record, envelope, savepoints = item.record, item.envelope, fresh is None
        address = (record.topic, record.partition, record.offset)
        if self._exhausted(record):
            history = history_reason(self._failures.get(address, []))
            reason = await self._dead_letter(connection, record, HANDLER_FAILED, history)
            await self._answers.answer(
                connection, record, HANDLER_FAILED, reason, emitted, by_handler=True
            )
            self._settled.append(address)
            return "dead_lettered"
        savepoint = connection.transaction() if savepoints else contextlib.nullcontext()
        emitted_before = emitted.mark()
        try:
            async with savepoint:
                if fresh is not None:
                    first = envelope.event_id in fresh
                    fresh.discard(envelope.event_id)  # a second copy in the batch is a duplicate
                else:
                    first = await self._inbox.first_delivery(
                        connection, self.group_id, envelope, record
                    )
                if not first:
                    log.info("consumer.duplicate_skipped")
                    return "duplicate"
                started = time.perf_counter()
                with tracing.handling(service=self.service, event_type=envelope.event_type):
                    unit = self._transactions.unit(
                        connection, emitted, cause=envelope, received=record
                    )
                    await item.handler(item.event, unit)
                    if savepoints and self.subscription.write_behind is not None:
                        await self.subscription.write_behind(unit)  # undone with its record
                self._handler_seconds[envelope.event_type].observe(time.perf_counter() - started)
        except PermanentError as error:
            if not savepoints:  # what the handler wrote can only go with the whole batch
                raise _RefusedWithoutSavepoint from error
            emitted.undo_since(emitted_before)  # its savepoint took back everything else
            reason = await self._dead_letter(connection, record, error.code, error.reason, error)
            await self._answers.answer(
                connection, record, error.code, reason, emitted, by_handler=True
            )
            self._settled.append(address)
            return "dead_lettered"
        except Exception as error:
            if is_transient(error):
                raise
            _, description = describe_failure(error)
            if len(self._failures) >= _MAX_TRACKED_FAILURES:  # partitions moved elsewhere
                self._failures.clear()
            self._failures.setdefault(address, []).append(description)
            metrics.HANDLER_FAILURES.labels(self.service, self.group_id, envelope.event_type).inc()
            attempts = len(self._failures[address])
            log.warning("consumer.handler_failed", attempt=attempts, reason=description)
            raise _HandlerFailed(description) from error
        self._settled.append(address)
        return "applied"

    async def _dead_letter(
        self,
        connection: Connection,
        record: ConsumerRecord,
        code: str,
        reason: str,
        error: BaseException | None = None,
    ) -> str:
        """Dead-letter ``record``; the letter's reason (card numbers redacted)."""
        letter = dead_letter_of(
            record,
            code=code,
            reason=reason,
            service=self.service,
            consumer=self.group_id,
            error=error,
        )
        await self._outbox.add_dead_letter(connection, letter)
        self._dead_lettered.append((record.topic, code))
        log.warning(
            "consumer.dead_letter",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_code=code,
            reason=letter.reason,
        )
        return letter.reason


async def observe(hook: BatchHook | None, records: Sequence[ConsumerRecord]) -> None:
    if hook is not None:
        await hook(records)

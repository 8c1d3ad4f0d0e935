"""The console's one event handler: every event of the contract, folded into the read model
inside the chassis' consuming transaction (inbox, consumer positions: exactly once).

The handler only gathers (:class:`~orderflow_ops.console.read_model_batch.BatchProjection`):
the subscription's ``lock_ahead`` begins each attempt at a batch, its ``write_behind`` writes
what the batch's events change, in the same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from orderflow_chassis.database import Connection
from orderflow_chassis.tracing import incoming_traceparent
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import Event

from orderflow_ops.console.read_model_batch import BatchProjection
from orderflow_ops.console.read_model_writes import ReadModelWriter, RecordPosition


@dataclass(frozen=True)
class ConsoleRepositories:
    writer: ReadModelWriter
    connection: Connection  # the transaction's: a batch's writes go on it


def console_repositories(schema: str) -> Callable[[Connection], ConsoleRepositories]:
    def bind(connection: Connection) -> ConsoleRepositories:
        return ConsoleRepositories(ReadModelWriter(connection, schema), connection)

    return bind


ConsoleUnit = UnitOfWork[ConsoleRepositories]


async def record_event(
    event: Event, uow: ConsoleUnit, *, batch: BatchProjection, topic_prefix: str
) -> None:
    envelope = uow.cause
    if envelope is None:  # the chassis always applies an event with its envelope
        raise RuntimeError("record_event needs the envelope being applied")
    batch.add(uow.repos.connection, event, envelope, _where(event, uow, topic_prefix))


def _where(event: Event, uow: ConsoleUnit, topic_prefix: str) -> RecordPosition:
    """Where the event was on Kafka, and the bytes it came in (the envelope's JSON, stored as
    it was published), from the very record the chassis decoded it from: never looked up by
    a header a sender chooses (a refused record's bytes were stored as another event's).
    Its trace context as the chassis reads any: bounded, canonical, screened."""
    record = uow.received
    if record is None:  # applied without a record (a test's own unit)
        assert uow.cause is not None
        fallback_ms = int(uow.cause.occurred_at.timestamp() * 1000)
        return RecordPosition(topic_prefix + type(event).topic, -1, -1, fallback_ms)
    return RecordPosition(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        incoming_traceparent(record.headers),
        record.value,
    )


def begin_batch(
    batch: BatchProjection,
) -> Callable[[Sequence[Event], ConsoleUnit], Awaitable[None]]:
    """The subscription's ``lock_ahead``: it runs at the start of every attempt at a batch
    (before any handler, on the batch's connection), so a retried attempt starts afresh."""

    async def begin(events: Sequence[Event], uow: ConsoleUnit) -> None:
        batch.begin(uow.repos.connection)

    return begin


def write_batch(batch: BatchProjection) -> Callable[[ConsoleUnit], Awaitable[None]]:
    """The subscription's ``write_behind``: what the batch's events change, written after the
    last handler inside the batch's transaction (a failure rolls it all back)."""

    async def write(uow: ConsoleUnit) -> None:
        await batch.flush()

    return write

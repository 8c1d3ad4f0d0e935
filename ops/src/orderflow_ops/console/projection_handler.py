"""The console's one event handler: every event of the contract, folded into the read model
inside the chassis' consuming transaction (inbox, consumer positions: exactly once).

The handler only gathers (:class:`~orderflow_ops.console.read_model_batch.BatchProjection`):
the subscription's ``lock_ahead`` begins each attempt at a batch, its ``write_behind`` writes
what the batch's events change, in the same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from orderflow_chassis.consumer_records import header
from orderflow_chassis.database import Connection
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import Event

from orderflow_ops.console.read_model_batch import BatchProjection
from orderflow_ops.console.read_model_writes import ReadModelWriter, RecordPosition

_MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class ConsoleRepositories:
    writer: ReadModelWriter
    connection: Connection  # the transaction's: a batch's writes go on it


def console_repositories(schema: str) -> Callable[[Connection], ConsoleRepositories]:
    def bind(connection: Connection) -> ConsoleRepositories:
        return ConsoleRepositories(ReadModelWriter(connection, schema), connection)

    return bind


ConsoleUnit = UnitOfWork[ConsoleRepositories]


class RecordPositions:
    """Where each polled record was (topic, partition, offset, trace context), by the
    ``event_id`` header the outbox gives every record, so the timeline can show it: a handler
    sees the event, not the record. Filled after each poll, emptied after each commit."""

    def __init__(self, topic_prefix: str) -> None:
        self._prefix = topic_prefix
        self._by_event_id: dict[str, RecordPosition] = {}

    async def remember(self, records: Sequence[ConsumerRecord]) -> None:
        if len(self._by_event_id) > _MAX_REMEMBERED:  # batches rewound and never committed
            self._by_event_id.clear()
        for record in records:
            event_id = header(record, "event_id")
            if event_id is not None:
                self._by_event_id[event_id] = RecordPosition(
                    record.topic,
                    record.partition,
                    record.offset,
                    record.timestamp,
                    header(record, "traceparent"),
                    record.value,
                )

    async def forget(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            event_id = header(record, "event_id")
            if event_id is not None:
                self._by_event_id.pop(event_id, None)

    def position_of(self, event: Event, event_id: str, fallback_ms: int) -> RecordPosition:
        found = self._by_event_id.get(event_id)
        if found is not None:
            return found
        return RecordPosition(self._prefix + type(event).topic, -1, -1, fallback_ms)


async def record_event(
    event: Event, uow: ConsoleUnit, *, positions: RecordPositions, batch: BatchProjection
) -> None:
    envelope = uow.cause
    if envelope is None:  # the chassis always applies an event with its envelope
        raise RuntimeError("record_event needs the envelope being applied")
    fallback_ms = int(envelope.occurred_at.timestamp() * 1000)
    where = positions.position_of(event, str(envelope.event_id), fallback_ms)
    batch.add(uow.repos.connection, event, envelope, where)


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

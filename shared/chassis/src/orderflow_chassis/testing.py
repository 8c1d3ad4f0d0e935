"""Test support for use cases: a unit of work without a database or a broker.

Each service's tests pair these with in-memory repositories of their own (``tests/fakes.py``),
so a use case is tested in microseconds against the same :class:`UnitOfWork` type it gets in
production. Integration tests on PostgreSQL and Kafka prove the SQL, delivery and concurrency.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event

from orderflow_chassis import tracing
from orderflow_chassis.clock import Clock, SettableClock
from orderflow_chassis.unit_of_work import UnitOfWork

R = TypeVar("R")
E = TypeVar("E", bound=Event)


@dataclass
class RecordingEmitter:
    """Keeps what a use case emits, as the envelopes the outbox would publish."""

    producer: str = "test"
    envelopes: list[Envelope] = field(default_factory=list)

    async def __call__(
        self, event: Event, *, correlation_id: str, causation_id: str | None, topic: str | None
    ) -> None:
        envelope = Envelope.wrap(
            event,
            producer=self.producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.envelopes.append(envelope)

    @property
    def events(self) -> list[Event]:
        return [envelope.parse_event() for envelope in self.envelopes]

    def of_type(self, event_type: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, event_type)]


@dataclass
class FakeTransactions(Generic[R]):
    """Units of work over in-memory repositories.

    Like a transaction, a block that raises keeps nothing: the repositories are restored from
    a copy taken at ``begin`` and its emitted events are dropped.
    """

    repos: R
    clock: Clock = field(default_factory=SettableClock)
    emitted: RecordingEmitter = field(default_factory=RecordingEmitter)

    def unit(self, cause: Envelope | None = None) -> UnitOfWork[R]:
        """A unit of work as the consumer would hand it to a handler of ``cause``."""
        return UnitOfWork(
            self.repos, self.clock.now(), self.emitted, cause=cause, savepoint=self._savepoint
        )

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        """A part of a unit: restores each repository in place (handlers hold the unit's
        repositories, and may hold a repository itself)."""
        saved, emitted = copy.deepcopy(self.repos), len(self.emitted.envelopes)
        try:
            yield
        except BaseException:
            for name, copied in vars(saved).items():
                held = getattr(self.repos, name)
                if hasattr(held, "__dict__") and type(held) is type(copied):
                    vars(held).clear()
                    vars(held).update(vars(copied))
                else:
                    setattr(self.repos, name, copied)
            del self.emitted.envelopes[emitted:]
            raise

    @asynccontextmanager
    async def begin(self, *, read_only: bool = False) -> AsyncIterator[UnitOfWork[R]]:
        saved, emitted = copy.deepcopy(self.repos), len(self.emitted.envelopes)
        try:
            yield self.unit()
        except BaseException:
            self.repos = saved
            del self.emitted.envelopes[emitted:]
            raise


def envelope_of(
    event: Event,
    *,
    correlation_id: str | None = None,
    sequence: int | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """``event`` as a consumer would receive it (a fresh event id, correlated by default)."""
    return Envelope.wrap(
        event,
        producer="test",
        correlation_id=correlation_id or f"test-{uuid.uuid4()}",
        sequence=sequence,
        occurred_at=occurred_at,
    )


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for the duration: every span the chassis starts is kept in
    the exporter (ids from the card-safe generator the chassis uses in production)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=tracing.CardSafeIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.install(None)

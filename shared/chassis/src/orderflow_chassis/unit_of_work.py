"""The unit of work: what every use case runs in.

A use case — an event handler, an HTTP command or query, a CLI command, one batch of a
periodic job — gets a :class:`UnitOfWork`: the service's repositories bound to one database
transaction, the time the work started (``now``, from the service's clock), and ``emit``,
which records an event for the outbox of that same transaction (written just before it
commits, with everything else the transaction emitted). The state change and the events it
causes commit together or not at all; nothing is published before the commit.

Who opens the transaction differs, the shape does not:

* the consumer opens one per record (a savepoint in its batch, after the inbox check);
* HTTP routes, CLI commands and jobs open one with :meth:`Transactions.begin`.

Unit tests hand use cases the same type with in-memory repositories and an emitter that
records (:mod:`orderflow_chassis.testing`): no database, no broker.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event

from orderflow_chassis.clock import Clock
from orderflow_chassis.database import Connection, acquired
from orderflow_chassis.outbox import EmittedEvents, Outbox

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

RepositoryFactory = Callable[[Connection], R]
"""Builds a service's repositories on one connection (the transaction's)."""


class Emitter(Protocol):
    """Records an event for publication in the current transaction (the outbox, or a fake)."""

    async def __call__(
        self,
        event: Event,
        *,
        correlation_id: str,
        causation_id: str | None,
        topic: str | None,
    ) -> None: ...


@dataclass(frozen=True)
class UnitOfWork(Generic[R_co]):
    """One transaction's worth of a use case (see the module docstring).

    ``cause`` is the envelope being applied when the work is an event's; ``emit`` correlates
    what it records with it unless told otherwise. ``received`` is the Kafka record it came in
    (its place, headers and bytes), the very record the consumer decoded ``cause`` from.
    ``savepoint`` opens a part of the unit that can be undone (see :meth:`part`).
    """

    repos: R_co
    now: datetime
    emitter: Emitter
    cause: Envelope | None = None
    received: ConsumerRecord | None = None
    savepoint: Callable[[], AbstractAsyncContextManager[None]] | None = None

    def part(self) -> AbstractAsyncContextManager[None]:
        """A part of the unit that leaves nothing when it raises: what it wrote and emitted is
        undone (a savepoint) and the error goes on, so a caller that catches it carries on
        with the rest of the unit. Writes a batch defers (a subscription's write-behind) are
        not undone: a part must not defer any."""
        if self.savepoint is None:
            raise RuntimeError("this unit of work cannot undo a part of itself")
        return self.savepoint()

    async def emit(
        self,
        event: Event,
        *,
        cause: Envelope | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        topic: str | None = None,
    ) -> None:
        """Record ``event`` for this transaction's outbox.

        It is caused by (and correlated with) ``cause``, or else the event being applied.
        Work that no event caused (a job, an HTTP command) names its ``correlation_id``.
        ``topic`` overrides the contract topic (tests use private topics).
        """
        origin = cause or self.cause
        correlation = correlation_id or (origin.correlation_id if origin else None)
        if correlation is None:
            raise ValueError(f"emitting {event.event_type} needs a cause or a correlation id")
        causation = causation_id or (str(origin.event_id) if origin else None)
        await self.emitter(event, correlation_id=correlation, causation_id=causation, topic=topic)


class Transactions(Protocol[R_co]):
    """Opens units of work for HTTP routes, CLI commands and jobs."""

    def begin(self, *, read_only: bool = False) -> AbstractAsyncContextManager[UnitOfWork[R_co]]:
        """A unit of work in a new transaction, committed when the block exits normally and
        rolled back when it raises. ``read_only`` work sees one consistent snapshot."""
        ...


@dataclass(frozen=True)
class DatabaseTransactions(Generic[R]):
    """Units of work on a pool: one connection and one transaction each."""

    pool: asyncpg.Pool
    repositories: RepositoryFactory[R]
    outbox: Outbox
    clock: Clock
    # How long a unit waits for a free connection before TimeoutError (an HTTP 503, a job's
    # round retried later); None waits as long as it takes.
    acquire_timeout_s: float | None = None

    def unit(
        self,
        connection: Connection,
        emitted: EmittedEvents,
        cause: Envelope | None = None,
        received: ConsumerRecord | None = None,
    ) -> UnitOfWork[R]:
        """A unit of work on ``connection``, whose transaction the caller has opened and
        writes ``emitted`` to the outbox before it commits."""
        return UnitOfWork(
            repos=self.repositories(connection),
            now=self.clock.now(),
            emitter=emitted,
            cause=cause,
            received=received,
            savepoint=functools.partial(_savepoint, connection, emitted),
        )

    @asynccontextmanager
    async def begin(self, *, read_only: bool = False) -> AsyncIterator[UnitOfWork[R]]:
        async with (
            acquired(self.pool, wait_s=self.acquire_timeout_s) as connection,
            connection.transaction(
                isolation="repeatable_read" if read_only else "read_committed",
                readonly=read_only,
            ),
        ):
            emitted = EmittedEvents(self.outbox)
            yield self.unit(connection, emitted)
            await emitted.write(connection)


@asynccontextmanager
async def _savepoint(connection: Connection, emitted: EmittedEvents) -> AsyncIterator[None]:
    mark = emitted.mark()
    try:
        async with connection.transaction():  # in a transaction already: a savepoint
            yield
    except BaseException:
        emitted.undo_since(mark)
        raise

"""What a service declares about its consumption: its subscriptions (topics and a handler per
event type), how failures are retried, and the hooks tests crash a consumer at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from aiokafka import ConsumerRecord
from orderflow_contracts.events import Event

from orderflow_chassis.retry import Backoff
from orderflow_chassis.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from orderflow_chassis.refusal_answers import RefusalAnswer

Handler = Callable[[Any, UnitOfWork[Any]], Awaitable[None]]
"""A use case bound to its dependencies (:func:`orderflow_chassis.wiring.inject`): it gets the
event and the unit of work of the record's transaction."""


RecordInspector = Callable[[ConsumerRecord], None]
"""Runs on a raw record (key, value, headers) before decoding; raises PermanentError to refuse
it. Every subscription is screened for card data by the chassis; this adds a service's own."""

BatchHook = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]

BatchLocker = Callable[[Sequence[Event], UnitOfWork[Any]], Awaitable[None]]
"""Takes, up front and in one global order, every lock a batch's handlers will need (their
events are given in record order). Two instances applying batches whose records touch the same
rows in crossing orders then queue instead of deadlocking."""

BatchWriter = Callable[[UnitOfWork[Any]], Awaitable[None]]
"""Writes what a batch's handlers deferred (a use case that stores one row per aggregate per
batch, by one statement, instead of one per event): run after the last handler, before the
outbox; when the batch is applied with savepoints, after each handler, inside its savepoint.
What is deferred belongs to one attempt at the batch: ``lock_ahead``, which starts every
attempt, drops what a failed one left. A handler defers as its last step, so one that fails
(dead-lettered in the savepoint pass) leaves nothing deferred; a write deferred earlier must be
harmless without its record (the cart's orders, stored only with the cart that became them)."""


@dataclass(frozen=True)
class Gather:
    """How a read model's consumer batches: every fetch waits ``wait_ms`` for a batch of up to
    ``max_records``, idle or busy (a saga step's consumer instead answers its first record at
    once when idle, see :mod:`~orderflow_chassis.fetch_pacing`). Its batches then hold more
    events of each aggregate, so a projection that rewrites an aggregate's row once per batch
    rewrites it fewer times, at the price of that much delay (plus, under load, the previous
    batch's apply time). Only for consumers no other step waits on.

    A gathering consumer never idles: it fetches every ``wait_ms`` (at least ``MIN_WAIT_MS``,
    or it would fetch without pause). ``max_records`` bounds what one transaction holds: a
    projection that locks each aggregate of its batch takes up to that many locks at once
    (PostgreSQL's lock table holds ``max_locks_per_transaction`` per connection)."""

    MIN_WAIT_MS: ClassVar[int] = 100

    wait_ms: int
    max_records: int = 400

    def __post_init__(self) -> None:
        if self.wait_ms < self.MIN_WAIT_MS or self.max_records < 1:
            raise ValueError(
                f"a gathering consumer waits at least {self.MIN_WAIT_MS} ms for at least one "
                f"record: got {self.wait_ms} ms, {self.max_records} records"
            )

    @property
    def min_bytes(self) -> int:
        # Never the bound at the wait's end: up to 4 KiB a record.
        return self.max_records * 4096

    @classmethod
    def of_setting(cls, wait_ms: int, *, max_records: int = 400) -> Gather | None:
        """A service setting's gather: 0 turns it off (the consumer paces like a saga step's)."""
        return cls(wait_ms, max_records) if wait_ms else None

    @classmethod
    def checked_setting(cls, wait_ms: int) -> int:
        """For a setting's validator: 0 (off) or at least ``MIN_WAIT_MS`` (a shorter wait has
        the consumer fetch without pause, idle or not)."""
        if 0 < wait_ms < cls.MIN_WAIT_MS:
            raise ValueError(f"must be 0 (off) or at least {cls.MIN_WAIT_MS} ms")
        return wait_ms


@dataclass(frozen=True)
class Subscription:
    """A consumer group of a service: the topics it reads and a handler per event type."""

    name: str
    topics: Sequence[str]
    handlers: Mapping[type[Event], Handler]
    inspect_record: RecordInspector | None = None
    lock_ahead: BatchLocker | None = None
    write_behind: BatchWriter | None = None
    gather: Gather | None = None  # a read model's batching (see Gather); None: a saga step's
    answer_refusal: RefusalAnswer | None = None  # a refused record's answer to its sender

    def __post_init__(self) -> None:
        if self.write_behind is not None and self.lock_ahead is None:
            # Only lock_ahead starts every attempt: without it, what a failed attempt deferred
            # would be written by the next one.
            raise ValueError(f"subscription {self.name}: write_behind needs a lock_ahead")


@dataclass
class ConsumerHooks:
    """Observation points at each step of a batch, used by tests to crash (or pause) a process
    at exactly that step: after the poll, before the database commit (the batch applied inside
    the open transaction), after the database commit, after the Kafka offset commit (or after
    its deferral, when the commit interval has not passed: see ``offset_commits``; not when the
    commit failed)."""

    after_poll: BatchHook | None = None
    before_commit: BatchHook | None = None
    after_commit: BatchHook | None = None
    after_offset_commit: BatchHook | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How a consumer retries: batch attempts before a rewind, and a record's handler attempts
    before it is dead-lettered; delays grow exponentially, with jitter."""

    attempts: int = 8
    initial_delay_s: float = 0.1
    max_delay_s: float = 5.0
    handler_attempts: int = 5
    # No retry starts after this (None: no bound), so a batch ends well before the poll
    # interval after which Kafka takes the consumer's partitions away.
    deadline_s: float | None = None

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.attempts, self.initial_delay_s, self.max_delay_s, self.deadline_s)

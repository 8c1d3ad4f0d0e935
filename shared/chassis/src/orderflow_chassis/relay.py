"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

Each relay holds one database session for its lifetime. While it leads, it listens there for
the outbox's NOTIFY (sent at commit); it runs every publish round there, as one transaction:
take the lease (:mod:`orderflow_chassis.relay_lease`), claim the oldest pending rows, send them
(:mod:`orderflow_chassis.relay_sending`), wait for Kafka's acknowledgements, stamp them sent,
heartbeat, commit. If that session is lost the round aborts and stamps nothing; the relay
stops leading at once, opens a new session and contends again.

A crash after publishing and before the commit re-publishes those rows; consumers drop the
duplicates through their inbox. Publish at least once, apply exactly once.

A wave Kafka does not acknowledge in time ends the round (:mod:`orderflow_chassis.relay_sending`)
and its producer is replaced before the next round: the old one is stopped without waiting for
the records it still retries, which are published again by the new one (decision 64). The
partition that did not acknowledge is paused, so that it does not hold up the other partitions'
rows (:mod:`orderflow_chassis.relay_partitions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, TopicPartition

from orderflow_chassis import metrics, outbox_store
from orderflow_chassis.database import Connection, acquired, read_only_failure
from orderflow_chassis.errors import describe_error
from orderflow_chassis.outbox import (
    PRODUCER_REQUEST_TIMEOUT_S,
    notify_channel,
    start_producer,
    stop_producer,
)
from orderflow_chassis.outbox_store import OutboxCounts, OutboxRow
from orderflow_chassis.relay_health import RelayHealth, judge_health
from orderflow_chassis.relay_holdbacks import Holdbacks
from orderflow_chassis.relay_lease import (
    LeaseBusy,
    LeaseState,
    Session,
    heartbeat,
    lease_state,
    open_session,
    take_lease,
)
from orderflow_chassis.relay_sending import (
    SendReport,
    count_and_log,
    publish_row,
    send_in_waves,
)
from orderflow_chassis.retry import Backoff
from orderflow_chassis.settings import validate_identifier
from orderflow_chassis.waiting import wait_at_most

log = structlog.get_logger(__name__)

# Called with the rows Kafka acknowledged, before they are stamped sent (tests crash here).
AfterPublish = Callable[[Sequence[OutboxRow]], Awaitable[None]]
# Makes a producer like the relay's first one (not started): it replaces one that is stuck.
NewProducer = Callable[[], AIOKafkaProducer]

_PURGE_EVERY_ROUNDS = 600
_BUSY_RETRY_S = 0.1
# A probe of a paused partition is waited for this share of the acknowledgement timeout (5 s of
# 30 s): a partition that is well again answers in milliseconds.
_PROBE_SHARE = 1 / 6
# Reconnecting after a lost session: 0.2 s doubling to 10 s, jittered, without limit.
_SESSION_BACKOFF = Backoff(attempts=None, initial_delay_s=0.2, max_delay_s=10.0)


class ProducerUnavailable(Exception):
    """No producer could be started to replace a stuck one (Kafka is out of reach)."""


class Role(Enum):
    LEADER = "leader"
    STANDBY = "standby"
    BUSY = "busy"


@dataclass(frozen=True)
class Round:
    role: Role
    claimed: int = 0
    report: SendReport | None = None


class OutboxRelay:
    """Publishes committed outbox rows of one service schema; one instance leads at a time."""

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
        lease_s: float = 10.0,
        unready_after_s: float = 30.0,
        park_after_attempts: int = 5,
        new_producer: NewProducer | None = None,
        ack_timeout_s: float = PRODUCER_REQUEST_TIMEOUT_S,
    ) -> None:
        self._pool = pool
        self._producer = producer
        # Without it (a test's own producer), a stuck producer is kept, with what it holds.
        self._new_producer = new_producer
        self._ack_timeout_s = ack_timeout_s
        self._probe_timeout_s = ack_timeout_s * _PROBE_SHARE
        self._producer_stuck = False
        self._holdbacks = Holdbacks(
            service=service, ack_timeout_s=ack_timeout_s, probe_timeout_s=self._probe_timeout_s
        )
        self._schema = validate_identifier(schema)
        self._service = service
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._retention = retention
        self._after_publish = after_publish
        self._lease = timedelta(seconds=lease_s)
        self._unready_after_s = unready_after_s
        self._park_after_attempts = park_after_attempts
        self._name = f"{service}@{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._started = time.monotonic()
        self._rounds = 0
        self.is_leader = False
        metrics.RELAY_IS_LEADER.labels(service).set(0)  # exported from the start, not at a change
        self.session_pid: int | None = None  # the backend pid of the relay's session
        self.listening = False  # LISTENing for the outbox's NOTIFY: while it leads
        self.last_error: str | None = None

    async def run(self) -> None:
        """Publish (or stand by) until cancelled; survives database and broker outages."""
        failures = 0  # in a row: a session that worked for a while resets the backoff
        while True:
            rounds_before = self._rounds
            try:
                async with acquired(self._pool) as connection:
                    await self._serve(connection)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures = 1 if self._rounds > rounds_before else failures + 1
                delay = _SESSION_BACKOFF.delay(failures)
                self.last_error = describe_error(error)
                log.warning(
                    "outbox.relay_session_lost", error=self.last_error, retry_in_s=round(delay, 2)
                )
                await asyncio.sleep(delay)

    async def _serve(self, connection: Connection) -> None:
        """Run rounds on this one session until it fails (this never returns normally)."""
        lost = asyncio.Event()

        def on_termination(*_: object) -> None:
            lost.set()
            self._wake.set()

        channel = notify_channel(self._schema)
        connection.add_termination_listener(on_termination)
        try:
            session = await open_session(connection, self._name)
            self.session_pid = session.pid
            while True:
                if lost.is_set() or connection.is_closed():
                    raise ConnectionError("the relay's database session was lost")
                self._wake.clear()
                try:
                    outcome = await self._round(connection, session)
                    await self._listen_as(outcome.role, connection, channel)
                except Exception as error:
                    if lost.is_set() or connection.is_closed():
                        raise
                    if read_only_failure(error):
                        raise  # its server was demoted: a new session finds the writer
                    if isinstance(error, asyncpg.NoActiveSQLTransactionError):
                        # A cancel that hit a round's BEGIN leaves asyncpg believing that
                        # transaction open: every later round would ask for a SAVEPOINT the
                        # server refuses. Only the pool's reset, on release, clears that: give
                        # the session up (the caller acquires one again).
                        raise
                    if connection.is_in_transaction():
                        # The cancel hit the round's ROLLBACK itself: the transaction is still
                        # open, and every later round would refuse to start one. End it here;
                        # if even that fails, give the session up (the caller reconnects).
                        await connection.execute("ROLLBACK")
                    # The session lives (a cancelled query, a conflict): the round's
                    # transaction rolled back, and this session still names the lease.
                    # Reconnecting would leave it to a lease expiry.
                    self.last_error = describe_error(error)
                    log.warning("outbox.relay_round_failed", error=self.last_error)
                    # Kafka out of reach: no hot loop of producers started in vain.
                    unavailable = isinstance(error, ProducerUnavailable)
                    await asyncio.sleep(self._poll_interval_s if unavailable else _BUSY_RETRY_S)
                    continue
                self._rounds += 1
                if outcome.role is not Role.LEADER:
                    self.last_error = None  # the session works; a leader's round sets its own
                await self._pause(outcome)
        finally:
            self._set_leader(False)
            self.session_pid = None
            # Whatever happens below, the next session LISTENs afresh (`_listen_as`).
            listening, self.listening = self.listening, False
            # A session the server ended was cleaned up by asyncpg before this runs (its
            # listeners dropped, the pool's proxy detached: every call on it raises
            # InterfaceError); there is nothing left to undo then.
            with contextlib.suppress(asyncpg.InterfaceError):
                connection.remove_termination_listener(on_termination)
                if listening:
                    if connection.is_closed():
                        # asyncpg keeps a dead session's listeners until its clean-up, which
                        # a session not yet cleaned up may not have had (and then warns of
                        # them on release); terminating it runs the clean-up.
                        connection.terminate()
                    else:
                        with contextlib.suppress(Exception):  # the session may be dying
                            await connection.remove_listener(channel, self._on_notify)

    async def _listen_as(self, role: Role, connection: Connection, channel: str) -> None:
        """Only the leader LISTENs: every standby would otherwise be sent every commit's
        NOTIFY. A failure here is the round's (the session may live on, and keep the lease)."""
        if role is Role.LEADER and not self.listening:
            await connection.add_listener(channel, self._on_notify)
            self.listening = True
            self._wake.set()  # a commit notified before the LISTEN: one more round
        elif role is Role.STANDBY and self.listening:
            await connection.remove_listener(channel, self._on_notify)
            self.listening = False

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _pause(self, outcome: Round) -> None:
        if outcome.role is Role.BUSY:
            await asyncio.sleep(_BUSY_RETRY_S)
        elif outcome.role is Role.STANDBY:
            await asyncio.sleep(self._poll_interval_s)  # wake-ups are for the leader
        elif outcome.report is not None and outcome.report.failed:
            await asyncio.sleep(self._poll_interval_s)  # no hot loop on a failing row
        elif outcome.claimed < self._batch_size:
            with contextlib.suppress(TimeoutError):
                await wait_at_most(self._poll_interval_s, self._wake.wait())
        # else a full batch: more are probably waiting

    async def _round(self, connection: Connection, session: Session) -> Round:
        if self._producer_stuck and self._new_producer is not None:
            await self._replace_producer(self._new_producer)  # before the round's transaction
        began = time.monotonic()
        try:
            async with connection.transaction():
                lease = await take_lease(
                    connection, self._schema, session, lease=self._lease, leading=self.is_leader
                )
                if not lease.leading:
                    self._set_leader(False)
                    return Round(Role.STANDBY)
                rows = await outbox_store.claim_pending(
                    connection,
                    self._schema,
                    self._batch_size,
                    skip_keys=self._holdbacks.held_keys(),
                )
                routes, sorted_out = await self._holdbacks.sort_out(
                    self._producer, rows, complete=len(rows) < self._batch_size
                )
                report = await send_in_waves(
                    sorted_out.send,
                    functools.partial(self._send, routes),
                    park_after_attempts=self._park_after_attempts,
                    ack_timeout_s=self._ack_timeout_s,
                    probes=sorted_out.probes,
                    probe_timeout_s=self._probe_timeout_s,
                )
                report.held_back += sorted_out.held_back
                self._holdbacks.learn(report, sorted_out.probes, routes)
                if report.timed_out:
                    self._producer_stuck = True
                if self._after_publish is not None and report.acknowledged:
                    await self._after_publish(report.acknowledged)
                await self._record(connection, report)
                # Due at the start, or this round itself took a quarter lease (a slow broker):
                # the heartbeat is then never older than half the lease while rounds go on.
                long_round = time.monotonic() - began > self._lease.total_seconds() / 4
                took_over = (lease.heartbeat_due or long_round) and await heartbeat(
                    connection, self._schema, session
                )
        except LeaseBusy:
            return Round(Role.BUSY)
        if took_over:
            log.info("outbox.relay_took_over", session_pid=session.pid)
        self._set_leader(True)
        self._after_commit(report)
        if self._rounds % _PURGE_EVERY_ROUNDS == _PURGE_EVERY_ROUNDS - 1:
            await outbox_store.purge_sent(connection, self._schema, self._retention)
        return Round(Role.LEADER, claimed=len(rows), report=report)

    async def _replace_producer(self, new_producer: NewProducer) -> None:
        """Stop the stuck producer without waiting for what it holds, and start a new one.

        The old one would retry its records forever, in memory, with every round adding copies.
        Stopping it is safe for order: it holds at most one row per aggregate, the first the
        next round sends again, and nothing of that aggregate behind it. If it still delivers
        one after all, that is a duplicate of an event already published, which the inbox drops.
        """
        abandoned = await stop_producer(self._producer, flush_s=0)
        if abandoned:
            log.warning("outbox.stuck_producer_stopped", abandoned_records=abandoned)
        producer = new_producer()
        try:
            await start_producer(producer, timeout_s=self._ack_timeout_s)
        except Exception as error:  # a cancellation goes on: the relay is stopping
            self._set_leader(False)  # not publishing: another instance may take over
            raise ProducerUnavailable(describe_error(error)) from error
        self._producer = producer
        self._producer_stuck = False
        log.info("outbox.producer_replaced")

    async def close(self, *, flush_s: float) -> None:
        """Stop the producer once the relay's task has ended. What Kafka has not acknowledged
        within ``flush_s`` is abandoned: those rows were not stamped, so the next leader
        publishes them."""
        await self._holdbacks.close()
        abandoned = await stop_producer(self._producer, flush_s=flush_s)
        if abandoned:
            log.warning("outbox.producer_abandoned_at_stop", abandoned_records=abandoned)

    async def _send(self, routes: dict[int, TopicPartition], row: OutboxRow) -> Awaitable[object]:
        # To the partition the bookkeeping of paused partitions says, whatever happens to the
        # producer's metadata meanwhile.
        route = routes.get(row.id)
        partition = None if route is None else route.partition
        return await publish_row(self._producer, row, service=self._service, partition=partition)

    async def _record(self, connection: Connection, report: SendReport) -> None:
        await outbox_store.stamp_sent(connection, self._schema, [r.id for r in report.acknowledged])
        await outbox_store.record_refusals(connection, self._schema, report.refused, park=False)
        await outbox_store.record_refusals(connection, self._schema, report.parked, park=True)

    def _after_commit(self, report: SendReport) -> None:
        count_and_log(report, service=self._service)
        held_back = self._holdbacks.problem()
        if report.transient:
            self.last_error = f"sending failed, retrying: {report.transient[0].error}"
        else:
            self.last_error = held_back

    def _set_leader(self, leader: bool) -> None:
        if leader != self.is_leader:
            log.info("outbox.relay_leadership", leader=leader, session_pid=self.session_pid)
        if not leader:
            self._holdbacks.forget_all()
        self.is_leader = leader
        metrics.RELAY_IS_LEADER.labels(self._service).set(1 if leader else 0)

    async def unsent_count(self) -> int:
        """Rows waiting to be published (parked rows not included)."""
        async with acquired(self._pool) as connection:
            counts = await outbox_store.outbox_counts(connection, self._schema)
        self._export(counts)
        return counts.pending

    async def health(self) -> RelayHealth:
        """Healthy unless this relay is failing or no relay of the service led for too long."""
        async with acquired(self._pool) as connection:
            lease: LeaseState = await lease_state(connection, self._schema)
            counts = await outbox_store.outbox_counts(connection, self._schema)
        self._export(counts)
        return judge_health(
            lease,
            counts,
            leading=self.is_leader,
            last_error=self.last_error,
            running_s=time.monotonic() - self._started,
            unready_after_s=self._unready_after_s,
        )

    def _export(self, counts: OutboxCounts) -> None:
        metrics.OUTBOX_BACKLOG.labels(self._service).set(counts.pending)
        metrics.OUTBOX_PARKED.labels(self._service).set(counts.parked)

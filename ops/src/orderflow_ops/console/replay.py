"""Replaying dead letters from the console, audited, and learning what became of them.

Publishing is the chassis' (``orderflow-dlq``'s :func:`publish_replays`: the original value,
key and headers back to the original topic, with ``replayed_from``). Each letter sent gets an
audit row (who, when, what was asked, where the record landed). Its outcome is then learnt
from what the console already watches: *applied* once the consumer group that dead-lettered it
has committed past the replayed record; *dead_lettered_again* when a dead letter naming it in
``replayed_from`` arrives from that group (checked for a while after *applied* too, since the
group's offset commit and its relay's publishing of the new dead letter come in either order).

A letter that does not hold its original record (a part withheld, its value cut) is never sent:
it is recorded *not_replayed*, with why, and the replay goes on past it.

A replay is sent a request at a time, each bounded (decision 66): letters are read a page at a
time, Kafka gets a bounded wait per letter, and a request sends for a bounded time. The id of
the confirmation page, kept in each audit row, lets the next request continue after the last
letter sent: posting the same confirmation again never sends a letter twice. The id is bound to
the selection it was confirmed for (the audit rows' ``selection``): posted with another, it is
refused, since continuing after its last letter would skip the other selection's earlier ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from orderflow_chassis.database import acquired
from orderflow_chassis.dlq_cli import StoredDeadLetter, publish_replays
from orderflow_chassis.errors import describe_error
from orderflow_chassis.outbox import start_producer, stop_producer

from orderflow_ops.console.auth import Session
from orderflow_ops.console.kafka_clients import kafka_client
from orderflow_ops.console.live import PartitionLag
from orderflow_ops.console.read_model_queries import ReadModelQueries, ReplaySelection

OUTCOME_WATCH = timedelta(hours=1)
# Letters read at a time: what a replay holds in memory, whatever the size of the selection.
PAGE = 50


@dataclass(frozen=True)
class ReplayLimits:
    send_timeout_s: float  # for Kafka's acknowledgement of a letter (and the producer's start)
    request_budget_s: float  # no letter is sent after this long; the rest waits for a next one


@dataclass(frozen=True)
class ReplayRequest:
    selection: ReplaySelection
    session: Session
    described: str  # what the operator asked for, as the audit shows it
    now: datetime


@dataclass(frozen=True)
class ReplayResult:
    sent: int  # by this request
    stopped_because: str | None = None  # why letters are left to send; None: the replay is done
    kafka_failed: bool = False  # stopped because Kafka did not answer, not for the budget


class ReplayRunning(Exception):
    """Another request of the same replay is sending: both would send the same letters."""


class ReplayOfAnotherSelection(Exception):
    """The replay's id was confirmed for another selection: continuing it with this one would
    skip this selection's letters that sort before the last one the replay sent."""

    def __init__(self, confirmed_for: str) -> None:
        super().__init__(confirmed_for)
        self.confirmed_for = confirmed_for


async def replay_letters(
    queries: ReadModelQueries,
    pool: asyncpg.Pool,
    schema: str,
    bootstrap_servers: str,
    request: ReplayRequest,
    limits: ReplayLimits,
) -> ReplayResult:
    """Send the selection's letters back, after the last one an earlier request of the same
    replay sent, until none is left, the request's budget is up (one letter is tried at least)
    or Kafka does not acknowledge one in time. Each letter is audited with the request id as
    soon as Kafka acknowledged it: the next request continues after it."""
    budget_ends = asyncio.get_running_loop().time() + limits.request_budget_s
    async with _alone(pool, request):
        confirmed_for = await pool.fetchval(
            f"SELECT selection FROM {schema}.replay_audit WHERE request_id = $1 LIMIT 1",
            request.selection.request_id,
        )
        if confirmed_for is not None and confirmed_for != request.described:
            raise ReplayOfAnotherSelection(confirmed_for)
        producer = kafka_client(
            AIOKafkaProducer,
            bootstrap_servers,
            client_id="console-replay",
            acks="all",
            enable_idempotence=True,
        )
        try:
            await start_producer(producer, timeout_s=limits.send_timeout_s)
        except (TimeoutError, KafkaError) as error:
            reason = describe_error(error) if isinstance(error, KafkaError) else "no answer"
            failure = f"Kafka could not be reached ({reason}); nothing was sent"
            return ReplayResult(0, failure, kafka_failed=True)
        try:
            return await _send(queries, pool, schema, producer, request, limits, budget_ends)
        finally:
            # stop() alone would wait for ever for a letter Kafka never acknowledged.
            await stop_producer(producer, flush_s=1.0)


async def _send(
    queries: ReadModelQueries,
    pool: asyncpg.Pool,
    schema: str,
    producer: AIOKafkaProducer,
    request: ReplayRequest,
    limits: ReplayLimits,
    budget_ends: float,
) -> ReplayResult:
    clock = asyncio.get_running_loop().time
    sent = 0
    while True:
        # Let the last page go before the next is read: one in memory, not two.
        page: list[tuple[str, str, StoredDeadLetter]] | None = None
        page = await queries.letters_to_replay(request.selection, PAGE)
        if not page:
            return ReplayResult(sent)
        for dlq_topic, consumer, letter in page:
            if sent and clock() >= budget_ends:
                return ReplayResult(
                    sent, f"the time of a request ({limits.request_budget_s:g} s) is up"
                )
            if (why := letter.unreplayable_because) is not None:
                # A placeholder must never go out as an event. Recorded as not replayed, so
                # that the replay goes on past it (and a next request of it too): the operator
                # reads why on the Replays page. (publish_replays would refuse it as well.)
                not_replayed = f"{dlq_topic} {letter.address}: {why}"
                await _audit(pool, schema, request, dlq_topic, consumer, letter, not_replayed)
                continue
            address = f"{dlq_topic}:{letter.partition}:{letter.offset}"
            try:
                async with asyncio.timeout(limits.send_timeout_s):
                    (landed,) = await publish_replays(producer, [letter], dlq_topic)
            except TimeoutError:
                return ReplayResult(
                    sent,
                    f"Kafka did not acknowledge {address} within {limits.send_timeout_s:g} s; "
                    "it may still arrive, and continuing sends it again (a consumer drops an "
                    "event it has applied)",
                    kafka_failed=True,
                )
            except KafkaError as error:
                failure = f"Kafka refused {address}: {describe_error(error)}"
                return ReplayResult(sent, failure, kafka_failed=True)
            await _audit(pool, schema, request, dlq_topic, consumer, letter, landed=landed)
            sent += 1


@asynccontextmanager
async def _alone(pool: asyncpg.Pool, request: ReplayRequest) -> AsyncIterator[None]:
    """While no other request of the same replay runs (a double click, a retry while the first
    still sends), on any instance of the console."""
    key = "hashtextextended('console.replay:' || $1::text, 0)"
    request_id = str(request.selection.request_id)
    async with acquired(pool) as connection:
        if not await connection.fetchval(f"SELECT pg_try_advisory_lock({key})", request_id):
            raise ReplayRunning(request_id)
        try:
            yield
        finally:
            await connection.execute(f"SELECT pg_advisory_unlock({key})", request_id)


async def _audit(
    pool: asyncpg.Pool,
    schema: str,
    request: ReplayRequest,
    dlq_topic: str,
    consumer: str,
    letter: StoredDeadLetter,
    not_replayed: str | None = None,
    *,
    landed: RecordMetadata | None = None,
) -> None:
    """One audit row: a letter sent (where it ``landed``), or one ``not_replayed`` (why)."""
    async with acquired(pool) as connection:
        await connection.execute(
            f"""
            INSERT INTO {schema}.replay_audit (requested_at, requested_by, role, selection,
                dlq_topic, dlq_partition, dlq_offset, event_id, target_topic, target_partition,
                target_offset, consumer, request_id, outcome, outcome_detail, outcome_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            """,
            request.now,
            request.session.name,
            request.session.role.value,
            request.described,
            dlq_topic,
            letter.partition,
            letter.offset,
            letter.event_id,
            letter.target_topic(dlq_topic) if landed is None else landed.topic,
            None if landed is None else landed.partition,
            None if landed is None else landed.offset,
            consumer,
            request.selection.request_id,
            "sent" if not_replayed is None else "not_replayed",
            not_replayed,
            None if not_replayed is None else request.now,
        )


async def track_outcomes(
    pool: asyncpg.Pool, schema: str, lag: Sequence[PartitionLag], now: datetime
) -> int:
    """Record the outcome of replays; how many changed. Both are learnt however late the
    consumer catches up (a replay left *sent* is never sent again, see
    ``ReadModelQueries._replayed_already``): *dead_lettered_again* first, since a consumer
    that dead-letters a record commits past it too; and for an hour after *applied*, since the
    group's commit and its relay's publishing of the new letter come in either order."""
    s = schema
    again = await pool.fetch(
        f"""
        UPDATE {s}.replay_audit a SET outcome = 'dead_lettered_again', outcome_at = $1,
            outcome_detail = d.error_code || ': ' || d.reason
        FROM {s}.dead_letters d
        WHERE (a.outcome = 'sent' OR (a.outcome = 'applied' AND a.outcome_at > $2))
          AND d.replayed_from = a.dlq_topic || ':' || a.dlq_partition || ':' || a.dlq_offset
          AND d.consumer = a.consumer AND d.failed_at >= a.requested_at
        RETURNING a.id
        """,
        now,
        now - OUTCOME_WATCH,
    )
    committed = {(p.group, p.topic, p.partition): p.committed for p in lag}
    applied = [
        row["id"]
        for row in await pool.fetch(
            f"""
            SELECT id, consumer, target_topic, target_partition, target_offset
            FROM {s}.replay_audit WHERE outcome = 'sent'
            """
        )
        if committed.get((row["consumer"], row["target_topic"], row["target_partition"]), -1)
        > row["target_offset"]
    ]
    if applied:
        async with acquired(pool) as connection:
            await connection.execute(
                f"""
                UPDATE {s}.replay_audit SET outcome = 'applied', outcome_at = $2,
                    outcome_detail = consumer || ' committed past the replayed record'
                WHERE id = ANY($1::bigint[]) AND outcome = 'sent'
                """,
                applied,
                now,
            )
    return len(again) + len(applied)

"""Consumer positions: the next offset to apply per partition, committed with the effects.

This is the tracking-table idea. Kafka's committed offset is only a hint (it is committed after
the database commit, so a crash in between redelivers); the position in the database is the
truth. Records below it were applied before and are skipped, which keeps a redelivered poison
record from being dead-lettered twice.

Positions are kept with the topic's id (see :mod:`orderflow_chassis.topic_ids`). When the two
disagree, what happened is logged and counted (``orderflow_consumer_position_mismatches_total``):

* ``another_life``: the stored position belongs to an earlier topic of the same name (deleted
  and created again): it is discarded and the new topic is read from the offset Kafka gives.
* ``gap``: Kafka handed over a record *after* the stored position: offsets were moved forward
  (an operator's ``--reset-offsets``), or records expired before they were read. Events in
  between were not applied; the gap is logged with its bounds so they can be replayed.

A redelivery (Kafka *behind* the position) is the normal aftermath of a crash and is not a
mismatch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import ConsumerRecord

from orderflow_chassis import metrics
from orderflow_chassis.database import Connection
from orderflow_chassis.errors import TransientError, describe_error
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.settings import validate_identifier
from orderflow_chassis.topic_ids import fetch_topic_ids

log = structlog.get_logger(__name__)

Partition = tuple[str, int]


@dataclass
class _Stored:
    next_offset: int
    topic_id: uuid.UUID | None


class TopicIdentity:
    """A cache of topic ids, refreshed when stale; a lookup that fails leaves what was known
    and is tried again only once stale (or when forced), not on every batch."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        max_age_s: float = 300.0,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._security = security
        self._max_age_s = max_age_s
        self._ids: dict[str, uuid.UUID] = {}
        self._fetched_at: dict[str, float] = {}

    def known(self, topic: str) -> uuid.UUID | None:
        return self._ids.get(topic)

    async def refresh(self, topics: Sequence[str], *, force: bool = False) -> set[str]:
        """Look up the ids of ``topics`` that are stale (all of them when forced); the topics
        whose id the lookup did not give (it failed, or left them out) are returned."""
        now = time.monotonic()
        due = [t for t in topics if force or now - self._fetched_at.get(t, -1e9) > self._max_age_s]
        if not due:
            return set()
        for topic in due:  # tried now, found or not: a failing lookup is not repeated per batch
            self._fetched_at[topic] = now
        try:
            found = await fetch_topic_ids(self._bootstrap_servers, sorted(set(due)), self._security)
        except Exception as error:  # keep what we knew; try again when it is stale
            log.warning("consumer.topic_ids_unavailable", error=describe_error(error))
            return set(due)
        self._ids.update((topic, found[topic]) for topic in due if topic in found)
        return {topic for topic in due if topic not in found}


class ConsumerPositions:
    """Reads (under a row lock) and writes one consumer group's positions."""

    def __init__(self, schema: str, consumer: str, *, service: str) -> None:
        self._schema = validate_identifier(schema)
        self._consumer = consumer
        self._service = service
        # Per partition, the first and one past the last offset passed over and not stored.
        self._passed_over: dict[Partition, tuple[int, int]] = {}

    async def lock(
        self,
        connection: Connection,
        records: Sequence[ConsumerRecord],
        topics: TopicIdentity,
    ) -> dict[Partition, int]:
        """The next offset to apply for each partition in ``records``, reconciled with Kafka."""
        partitions = sorted({(r.topic, r.partition) for r in records})
        stored = await self._select_for_update(connection, partitions)
        first_offsets = _first_offsets(records)
        for key in partitions:  # a stretch passed over and not stored yet came first
            stretch = self._passed_over.get(key)
            if stretch is not None:
                self._check_continues(key, stretch, first_offsets[key])
                first_offsets[key] = min(stretch[0], first_offsets[key])

        suspicious = sorted(
            {t for (t, p) in partitions if first_offsets[(t, p)] < stored[(t, p)].next_offset}
        )
        if suspicious:  # skipping records: make sure it is the same topic, not a new one
            unconfirmed = await topics.refresh(suspicious, force=True)
            # Without the id now, a topic created again under its name would have its first
            # records skipped as redelivered: the batch waits for Kafka's answer instead.
            doubtful = sorted(
                t for (t, p) in partitions if t in unconfirmed and stored[(t, p)].topic_id
            )
            if doubtful:
                raise TransientError(
                    f"consumer positions: the id of {', '.join(dict.fromkeys(doubtful))} is "
                    "unknown, and its records below the stored position would be skipped"
                )
        positions: dict[Partition, int] = {}
        for key in partitions:
            another_life = self._reconcile(key, stored[key], first_offsets[key], topics)
            if another_life:
                self._passed_over.pop(key, None)  # offsets of the topic that is gone
            positions[key] = 0 if another_life else stored[key].next_offset
        return positions

    def _reconcile(
        self, key: Partition, stored: _Stored, first: int, topics: TopicIdentity
    ) -> bool:
        """Log and count how Kafka's first offset ``first`` disagrees with the stored position;
        True when the stored one is from an earlier life of the topic (it no longer counts)."""
        topic, partition = key
        current_id = topics.known(topic)
        if stored.topic_id and current_id and stored.topic_id != current_id:
            self._mismatch("another_life", topic, partition, stored=stored.next_offset, kafka=first)
            return True
        if first > stored.next_offset > 0:
            self._mismatch("gap", topic, partition, stored=stored.next_offset, kafka=first)
        return False

    async def save(
        self, connection: Connection, positions: Mapping[Partition, int], topics: TopicIdentity
    ) -> None:
        # One statement for every partition of the batch (their rows are locked since lock()):
        # an update per partition cost a statement each, nine per batch for the console.
        await connection.execute(
            f"""
            UPDATE {self._schema}.consumer_positions AS c
            SET next_offset = u.next_offset, topic_id = coalesce(u.topic_id, c.topic_id),
                updated_at = now()
            FROM unnest($2::text[], $3::int[], $4::bigint[], $5::uuid[])
                AS u(topic, kafka_partition, next_offset, topic_id)
            WHERE c.consumer = $1 AND c.topic = u.topic AND c.kafka_partition = u.kafka_partition
            """,
            self._consumer,
            [topic for topic, _ in positions],
            [partition for _, partition in positions],
            list(positions.values()),
            [topics.known(topic) for topic, _ in positions],
        )

    def pass_over_later(self, records: Sequence[ConsumerRecord]) -> None:
        """Remember that ``records``, none of which this consumer handles, were passed over.
        Nothing is written now: :meth:`store_passed_over` stores the positions past them before
        Kafka's offsets move past them, and a batch applied meanwhile stores its partitions'."""
        after = {
            (record.topic, record.partition): record.offset + 1 for record in records
        }  # records keep their partition's order: the last one wins
        for key, first in _first_offsets(records).items():
            stretch = self._passed_over.get(key)
            if stretch is None:
                self._passed_over[key] = (first, after[key])
            else:
                self._check_continues(key, stretch, first)
                self._passed_over[key] = (min(stretch[0], first), max(stretch[1], after[key]))

    def _check_continues(self, key: Partition, stretch: tuple[int, int], first: int) -> None:
        """Records after a stretch not stored yet start where it ends, or some were missed."""
        if first > stretch[1]:
            self._mismatch("gap", key[0], key[1], stored=stretch[1], kafka=first)

    def passing_over(self) -> bool:
        """Whether some passed-over records are not stored yet."""
        return bool(self._passed_over)

    def settled(self, positions: Mapping[Partition, int]) -> None:
        """A batch's transaction committed these positions: what was passed over below them is
        stored with them."""
        for key, next_offset in positions.items():
            self._stored_up_to(key, next_offset)

    def _stored_up_to(self, key: Partition, next_offset: int) -> None:
        """The position stored for ``key`` is past what was passed over below ``next_offset``."""
        pending = self._passed_over.get(key)
        if pending is None:
            return
        if pending[1] <= next_offset:
            del self._passed_over[key]
        else:  # more was passed over meanwhile: what remains starts there
            self._passed_over[key] = (max(pending[0], next_offset), pending[1])

    def keep_only(self, assigned: Collection[Partition]) -> None:
        """A rebalance left these partitions to this consumer: forget what was passed over of
        the others. Kafka's offsets were never committed past it, so their next owner reads
        those records again (and passes over them)."""
        self._passed_over = {k: v for k, v in self._passed_over.items() if k in assigned}

    async def store_passed_over(self, connection: Connection, topics: TopicIdentity) -> None:
        """Move the positions past what was passed over, with one statement and no transaction
        of its own: nothing else is written, and a position only ever moves forward past what
        this consumer has applied or passed over, so it needs no lock. (A position from an
        earlier life of the topic is replaced, as :meth:`lock` does.) What it writes is
        forgotten only once written: until then a batch's lock still sees it, and a second
        caller meanwhile (a rebalance's) writes it again, which changes nothing."""
        passed = dict(self._passed_over)
        if not passed:
            return
        before = await self._pass_over(connection, passed, topics)
        for key, (_, written) in passed.items():
            self._stored_up_to(key, written)
        for key, stored in _stored(before).items():  # lock()'s checks: the log and metric
            self._reconcile(key, stored, passed[key][0], topics)

    async def _pass_over(
        self,
        connection: Connection,
        passed: Mapping[Partition, tuple[int, int]],
        topics: TopicIdentity,
    ) -> Sequence[asyncpg.Record]:
        partitions = sorted(passed)
        return await connection.fetch(
            f"""
            WITH wanted AS (
                SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::uuid[])
                    AS u(topic, kafka_partition, next_offset, topic_id)
            ), before AS (
                SELECT c.topic, c.kafka_partition, c.next_offset, c.topic_id
                FROM {self._schema}.consumer_positions AS c
                JOIN wanted USING (topic, kafka_partition)
                WHERE c.consumer = $1
            ), saved AS (
                INSERT INTO {self._schema}.consumer_positions AS c
                    (consumer, topic, kafka_partition, next_offset, topic_id)
                SELECT $1, topic, kafka_partition, next_offset, topic_id
                FROM wanted ORDER BY topic, kafka_partition
                ON CONFLICT (consumer, topic, kafka_partition) DO UPDATE
                SET next_offset = CASE WHEN c.topic_id <> excluded.topic_id
                                       THEN excluded.next_offset
                                       ELSE greatest(c.next_offset, excluded.next_offset) END,
                    topic_id = coalesce(excluded.topic_id, c.topic_id),
                    updated_at = now()
            )
            SELECT topic, kafka_partition, next_offset, topic_id FROM before
            """,
            self._consumer,
            [topic for topic, _ in partitions],
            [partition for _, partition in partitions],
            [passed[key][1] for key in partitions],
            [topics.known(topic) for topic, _ in partitions],
        )

    async def _select_for_update(
        self, connection: Connection, partitions: Sequence[Partition]
    ) -> dict[Partition, _Stored]:
        topics = [t for t, _ in partitions]
        numbers = [p for _, p in partitions]
        # One round trip: rows missing are created (so there is always a row to lock: this
        # serialises a zombie consumer with the partition's new owner during a rebalance) and
        # the others locked, in one order. A row another transaction created while this
        # statement ran is not in its snapshot: it is read (and locked) by a second statement.
        rows = await connection.fetch(
            f"""
            WITH wanted AS (
                SELECT t, p FROM unnest($2::text[], $3::int[]) AS u(t, p)
            ), added AS (
                INSERT INTO {self._schema}.consumer_positions
                    (consumer, topic, kafka_partition, next_offset)
                SELECT $1, t, p, 0 FROM wanted
                ON CONFLICT DO NOTHING
                RETURNING topic, kafka_partition, next_offset, topic_id
            ), locked AS (
                SELECT topic, kafka_partition, next_offset, topic_id
                FROM {self._schema}.consumer_positions
                WHERE consumer = $1 AND (topic, kafka_partition) IN (SELECT t, p FROM wanted)
                ORDER BY topic, kafka_partition
                FOR UPDATE
            )
            SELECT * FROM added UNION ALL SELECT * FROM locked
            """,
            self._consumer,
            topics,
            numbers,
        )
        stored = _stored(rows)
        missing = [key for key in partitions if key not in stored]
        if missing:
            stored.update(await self._lock_existing(connection, missing))
        return stored

    async def _lock_existing(
        self, connection: Connection, partitions: Sequence[Partition]
    ) -> dict[Partition, _Stored]:
        rows = await connection.fetch(
            f"""
            SELECT topic, kafka_partition, next_offset, topic_id
            FROM {self._schema}.consumer_positions
            WHERE consumer = $1
              AND (topic, kafka_partition) IN
                  (SELECT t, p FROM unnest($2::text[], $3::int[]) AS u(t, p))
            ORDER BY topic, kafka_partition
            FOR UPDATE
            """,
            self._consumer,
            [t for t, _ in partitions],
            [p for _, p in partitions],
        )
        return _stored(rows)

    def _mismatch(self, kind: str, topic: str, partition: int, *, stored: int, kafka: int) -> None:
        metrics.POSITION_MISMATCHES.labels(self._service, self._consumer, topic, kind).inc()
        log.warning(
            "consumer.position_mismatch",
            kind=kind,
            consumer=self._consumer,
            topic=topic,
            partition=partition,
            stored_next_offset=stored,
            kafka_offset=kafka,
        )


def _first_offsets(records: Sequence[ConsumerRecord]) -> dict[Partition, int]:
    first: dict[Partition, int] = {}
    for record in records:
        key = (record.topic, record.partition)
        first[key] = min(first.get(key, record.offset), record.offset)
    return first


def _stored(rows: Sequence[asyncpg.Record]) -> dict[Partition, _Stored]:
    return {
        (row["topic"], row["kafka_partition"]): _Stored(row["next_offset"], row["topic_id"])
        for row in rows
    }

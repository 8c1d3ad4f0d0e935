"""When a consumer commits its Kafka offsets: at most once per interval, whenever it goes idle,
and when it stops; and only the offsets of batches it applied.

Kafka's committed offset is only where a new owner of a partition starts reading; the consumer
positions committed with the effects are the truth (:mod:`orderflow_chassis.positions`), and a
record redelivered below them is skipped. So committing after every batch bought nothing but
a broker round trip and a write to ``__consumer_offsets`` per batch: with three instances,
where batches hold a third as many records, a tenth of a service's CPU (decision 50).

Each applied batch records, per partition, the offset after its last record. Those offsets
(never aiokafka's own positions, which include records handed over and not yet applied) are
committed after a batch when the interval has passed since the last commit; after a poll that
comes back empty, so an idle consumer's committed offsets (and the lag KEDA scales on) catch up
at once (after a commit postponed because the database was down, once an interval has
passed: not at every empty poll); when a rebalance is about to take partitions away (for those
partitions, so their next owner starts where this one stopped); and when the service stops.
Only partitions still assigned are committed: a partition that moved is read by its new owner
from the last committed offset, and the positions skip what it applies again. A crash
redelivers at most an interval's worth of applied batches.

A commit is bounded: aiokafka retries one until the group coordinator answers, and the consumer
must go on applying while it does not (offsets are only where a new owner starts). One that
times out is given up, logged once, its offsets kept; the next is tried only after a pause, so a
coordinator that stays away costs a small share of the consumer's time (decision 64).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from orderflow_chassis.errors import describe_error

log = structlog.get_logger(__name__)

# A commit takes milliseconds: one that takes this long waits for an absent coordinator.
_COMMIT_TIMEOUT_S = 3.0
# Then the commits wait this long, and the consumer applies meanwhile (3 s lost every 33 s).
_RETRY_AFTER_TIMEOUT_S = 30.0


class OffsetCommits:
    """One consumer's applied, not yet committed offsets (``interval_s`` 0: commit per batch).
    ``before_commit`` runs before every commit, which is skipped (and tried again later) if it
    fails: the consumer stores there the positions of the batches it passed over."""

    def __init__(
        self,
        interval_s: float,
        *,
        consumer: str,
        before_commit: Callable[[], Awaitable[None]] | None = None,
        timeout_s: float = _COMMIT_TIMEOUT_S,
        retry_after_timeout_s: float = _RETRY_AFTER_TIMEOUT_S,
    ) -> None:
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._retry_after_timeout_s = retry_after_timeout_s
        self._not_before = -math.inf  # after a commit that timed out
        self._consumer = consumer
        self._before_commit = before_commit
        self._last = -math.inf
        # ``before_commit`` failed last time (the database is down): an idle consumer waits an
        # interval before trying again.
        self._postponed = False
        self._applied: dict[TopicPartition, int] = {}
        self._kafka: Any = None

    def polled(self, kafka_consumer: Any) -> None:
        """Every poll names the aiokafka consumer the offsets are committed through."""
        self._kafka = kafka_consumer

    def applied(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """A batch was applied (its transaction committed) up to these offsets
        (:func:`~orderflow_chassis.consumer_records.next_offsets`)."""
        for partition, offset in next_offsets.items():
            self._applied[partition] = max(self._applied.get(partition, 0), offset)

    def due(self) -> bool:
        """Whether the batch just applied should be committed now, not later."""
        now = time.monotonic()
        return now - self._last >= self._interval_s and now >= self._not_before

    def every_batch(self) -> None:
        """From now on, commit after every batch (the service is stopping)."""
        self._interval_s = 0.0

    async def commit(self) -> bool:
        """Commit what was applied, for the partitions still assigned. A failure (a rebalance
        took the partitions) is logged and returns False, never raised: raised from a poll, it
        would stall the consumer for seconds. What failed is kept for the next commit."""
        applied, self._applied = self._applied, {}
        self._last = time.monotonic()
        if not applied or self._kafka is None:
            return True
        self._postponed = False
        if not await self._prepared():
            self.applied(applied)  # tried again with the next commit
            self._postponed = True
            return False
        assigned = self._kafka.assignment()
        offsets = {
            partition: OffsetAndMetadata(offset, "")
            for partition, offset in applied.items()
            if partition in assigned
        }
        if not offsets:
            return True
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._kafka.commit(offsets)
        except KafkaError as error:
            log.warning("consumer.offset_commit_failed", consumer=self._consumer, error=str(error))
            self.applied(applied)  # tried again with the next commit, if still ours by then
            return False
        except TimeoutError:
            log.warning(
                "consumer.offset_commit_timed_out",
                consumer=self._consumer,
                timeout_s=self._timeout_s,
                retry_in_s=self._retry_after_timeout_s,
            )
            self.applied(applied)
            self._postponed = True  # an idle consumer does not try again at every poll either
            self._not_before = time.monotonic() + self._retry_after_timeout_s
            return False
        self._not_before = -math.inf
        return True

    async def commit_revoked(
        self, revoked: Collection[TopicPartition], *, timeout_s: float
    ) -> None:
        """A rebalance is about to take these partitions: commit what was applied of them, so
        their next owner does not read it again. Bounded, because the rebalance waits for it;
        a commit that fails or times out only costs the next owner that rereading."""
        offsets = {
            partition: OffsetAndMetadata(self._applied.pop(partition), "")
            for partition in revoked
            if partition in self._applied
        }
        if not offsets or self._kafka is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                if await self._prepared("consumer.revoked_offset_commit_skipped"):
                    await self._kafka.commit(offsets)
        except (KafkaError, TimeoutError) as error:
            log.warning(
                "consumer.revoked_offset_commit_failed",
                consumer=self._consumer,
                error=str(error) or type(error).__name__,
            )

    def keep_only(self, assigned: Collection[TopicPartition]) -> None:
        """A rebalance left these partitions to this consumer: forget the others' offsets."""
        self._applied = {p: o for p, o in self._applied.items() if p in assigned}

    async def _prepared(self, failure: str = "consumer.offset_commit_postponed") -> bool:
        """Run ``before_commit``; False (logged as ``failure``) if it failed."""
        if self._before_commit is None:
            return True
        try:
            await self._before_commit()
        except Exception as error:
            log.warning(
                failure,
                consumer=self._consumer,
                error=describe_error(error),
            )
            return False
        return True

    async def flush(self, kafka_consumer: Any) -> None:
        """After a poll that returned nothing: commit what waits; after a commit postponed by
        ``before_commit``, not before an interval has passed (a database that is down is not
        asked again at every empty poll, each a connection attempt and a warning). A commit
        Kafka refused (a rebalance) is tried again at once."""
        if self._applied and (not self._postponed or self.due()):
            await self.commit()

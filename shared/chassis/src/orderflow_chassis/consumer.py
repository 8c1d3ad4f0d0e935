"""A service's consumer of one subscription: FastStream and aiokafka on one side, the
:class:`~orderflow_chassis.batch_applier.BatchApplier` on the other.

For each batch FastStream hands over (several partitions may be mixed):

1. The batch is applied in one database transaction, exactly once, retried while it fails for
   reasons that are not its records' fault (see :mod:`orderflow_chassis.batch_applier`), for
   at most half the poll interval. If it still fails, its partitions are rewound (nack) and
   read again after a pause that grows while it keeps failing (decision 63).
2. After commit, the batch's Kafka offsets are committed (MANUAL ack; only applied batches'
   offsets): at most once per ``commit_interval_ms``, after any poll that comes back empty, and
   when the service stops (:mod:`orderflow_chassis.offset_commits`). A crash before that
   redelivers the batches applied since the last commit, and step 1 drops every record of them.
   Before a rebalance takes partitions away, what was applied of them is committed, so their
   next owner does not read it again. Before any commit, the positions past the batches passed
   over (nothing in them for this consumer) are stored.

Between polls the consumer paces its fetches (:mod:`orderflow_chassis.fetch_pacing`) and
tracks its lag (:mod:`orderflow_chassis.consumer_lag`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import IllegalStateError, InconsistentGroupProtocolError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from orderflow_chassis.batch_applier import BatchApplier, observe
from orderflow_chassis.consumer_lag import LagTracker
from orderflow_chassis.consumer_records import (
    AppliedPositions,
    in_timestamp_order,
    next_offsets,
    parse_any_headers,
    the_message_itself,
    without_idle_sleep,
)
from orderflow_chassis.errors import describe_error
from orderflow_chassis.fetch_pacing import FetchPacing
from orderflow_chassis.offset_commits import OffsetCommits
from orderflow_chassis.retry import Backoff
from orderflow_chassis.subscriptions import BatchHook as BatchHook
from orderflow_chassis.subscriptions import BatchLocker as BatchLocker
from orderflow_chassis.subscriptions import BatchWriter as BatchWriter
from orderflow_chassis.subscriptions import ConsumerHooks as ConsumerHooks
from orderflow_chassis.subscriptions import Gather as Gather
from orderflow_chassis.subscriptions import Handler as Handler
from orderflow_chassis.subscriptions import RecordInspector as RecordInspector
from orderflow_chassis.subscriptions import RetryPolicy as RetryPolicy
from orderflow_chassis.subscriptions import Subscription as Subscription
from orderflow_chassis.waiting import wait_at_most

log = structlog.get_logger(__name__)

# The pause before a failed batch is read again: a batch that keeps failing is tried a few
# times a minute, not in a hot loop.
_REWIND_BACKOFF = Backoff(attempts=None, initial_delay_s=0.5, max_delay_s=30.0)


class EventConsumer:
    """Consumes one subscription's topics and has each batch applied, exactly once."""

    def __init__(self, batches: BatchApplier, *, on_group_refused: Callable[[str], None]) -> None:
        self._batches = batches
        self._on_group_refused = on_group_refused
        self.subscription = batches.subscription
        self.group_id = batches.group_id
        self._service = batches.service
        self._hooks = batches.hooks
        self._lag = LagTracker(batches.service, batches.group_id)
        self._offsets = self._offset_commits(0)
        self._applied = AppliedPositions(labels=(batches.service, batches.group_id))
        self._rewinds = 0  # batches rewound in a row
        self._pause: Callable[[float], Awaitable[None]] = asyncio.sleep  # before a rewind
        self._longest_pause_s = _REWIND_BACKOFF.max_delay_s
        self._pacing = FetchPacing(min_bytes=1, max_wait_ms=0)  # register() sets the real one

    def register(
        self,
        broker: KafkaBroker,
        *,
        max_records: int,
        batch_timeout_ms: int,
        fetch_min_bytes: int,
        fetch_max_wait_ms: int,
        fetch_loaded_max_wait_ms: int,
        topic_prefix: str = "",
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1000,
        max_poll_interval_ms: int = 300_000,
        commit_interval_ms: int = 0,
    ) -> None:
        """Declare the FastStream subscriber: explicit group, earliest, manual acks (committed
        at most every ``commit_interval_ms``), and the session after which a silent (killed)
        instance's partitions go to the others."""
        self._offsets = self._offset_commits(commit_interval_ms)
        # Half the poll interval of retries, a statement's timeout, then this pause: all within
        # the interval, or Kafka would take the partitions of a consumer that is alive.
        self._longest_pause_s = min(_REWIND_BACKOFF.max_delay_s, max_poll_interval_ms / 10_000)
        gather = self.subscription.gather
        if gather is not None:  # a read model: every fetch waits for a full batch
            max_records, fetch_min_bytes = gather.max_records, gather.min_bytes
            fetch_max_wait_ms = gather.wait_ms
            batch_timeout_ms = max(batch_timeout_ms, gather.wait_ms)  # or polls end first
        self._pacing = pacing = FetchPacing(
            min_bytes=fetch_min_bytes,
            max_wait_ms=fetch_max_wait_ms,
            loaded_max_wait_ms=fetch_loaded_max_wait_ms,
            gather=gather is not None,
        )

        def polled(consumer: Any, records: tuple[ConsumerRecord, ...]) -> None:
            self._lag.polled(consumer, records)
            self._offsets.polled(consumer)
            pacing.polled(consumer, records)

        subscriber = broker.subscriber(
            *(topic_prefix + topic for topic in self.subscription.topics),
            group_id=self.group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=batch_timeout_ms,
            # Offsets are committed by us, after the database commit (never ACK_FIRST).
            ack_policy=AckPolicy.MANUAL,
            # A new group must see history, not only what arrives after it joins.
            auto_offset_reset="earliest",
            # A producer using Kafka transactions (a storefront may) aborts some: an aborted
            # event never happened, and is never applied.
            isolation_level="read_committed",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms,
            # Partition n of every topic to one instance: an order's events (keyed by order id
            # on every topic) meet in one instance instead of waiting on each other's locks in
            # two. Range alone: aiokafka 0.14 offering two assignors sends a JoinGroup per
            # assignor, and two instances then rebalance each other for ever (decision 75).
            partition_assignment_strategy=(RangePartitionAssignor,),
            fetch_min_bytes=fetch_min_bytes,
            fetch_max_wait_ms=fetch_max_wait_ms,
            # The message itself reaches the handler, its records undecoded: decoding is
            # ours, so failures become dead letters.
            decoder=the_message_itself,
            parser=parse_any_headers,
            listener=_Rebalances(
                self._offsets,
                self._batches,
                self._applied,
                timeout_s=session_timeout_ms / 2000,
            ),
            title=f"{self._service}.{self.subscription.name}",
            description=f"Consumer group {self.group_id}",
        )
        if not without_idle_sleep(
            subscriber,
            on_poll=polled,
            on_idle=self._offsets.flush,
            on_fetch_error=self._fetch_failed,
            before_fetch=self._applied.settle,
        ):
            log.warning("consumer.idle_sleep_kept", consumer=self.group_id)
        subscriber(self._on_batch)

    async def _fetch_failed(self, consumer: Any, error: Exception) -> None:
        if isinstance(error, InconsistentGroupProtocolError):
            # Members of another version joined first (decision 75): this one gets no
            # partition while they run, and aiokafka would only try the join again.
            self._on_group_refused(self.group_id)
        await self._rewound(consumer)

    async def _rewound(self, consumer: Any) -> None:
        """Every assigned partition sent back to what was applied. aiokafka raises a refusal
        of the group from the next call that checks for errors, a seek too: reported here."""
        try:
            await self._applied.rewind(consumer)
        except InconsistentGroupProtocolError:
            self._on_group_refused(self.group_id)
            raise

    def _offset_commits(self, interval_ms: int) -> OffsetCommits:
        # Kafka's offsets never move past positions not stored (a restart would see a gap).
        return OffsetCommits(
            interval_ms / 1000,
            consumer=self.group_id,
            before_commit=self._batches.store_passed_over,
        )

    async def _on_batch(self, body: Any) -> None:
        # ``body`` is the message (see the_message_itself); annotated Any, so that
        # FastStream's dependency injection has nothing to resolve or validate.
        started = time.monotonic()
        try:
            await self._apply_and_commit(body)
        finally:
            self._pacing.worked(time.monotonic() - started)

    async def _apply_and_commit(self, body: Any) -> None:
        message: KafkaMessage = body
        raw = message.raw_message
        records = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        # Whatever fails here rewinds the batch: FastStream would swallow the exception and
        # read on past records never applied.
        try:
            records = in_timestamp_order(records)
            await observe(self._hooks.after_poll, records)
            await self.apply_with_retry(records)
        except Exception as error:
            self._rewinds += 1
            pause = min(_REWIND_BACKOFF.delay(self._rewinds), self._longest_pause_s)
            if self._rewinds == 1:
                log.exception(
                    "consumer.batch_rewound", consumer=self.group_id, records=len(records)
                )
            else:  # one traceback per run of failures, not one per rewind
                log.error(
                    "consumer.batch_rewound",
                    consumer=self.group_id,
                    records=len(records),
                    rewinds_in_a_row=self._rewinds,
                    error=describe_error(error),
                )
            # An error the batch's own retries do not cover (or outlasted) would otherwise be
            # polled and met again at once, in a hot loop.
            await self._pause(pause)
            await self._rewind(message)
            return
        self._rewinds = 0
        applied = next_offsets(records)
        self._applied.applied(applied)
        self._lag.applied(applied)
        await observe(self._hooks.after_commit, records)
        self._offsets.applied(applied)
        # A failed commit (a rebalance moved the partition) is logged: the next owner
        # redelivers, and the consumer positions committed with the effects drop the duplicates.
        if self._offsets.due() and not await self._offsets.commit():
            return
        await observe(self._hooks.after_offset_commit, records)

    async def _rewind(self, message: KafkaMessage) -> None:
        """Read the batch's partitions again from its first records. A rebalance may have taken
        one of them meanwhile: FastStream's nack then stops at it, with the partitions after it
        not rewound (read on past the batch: lost), so every partition still assigned goes
        back to what was applied instead."""
        try:
            await message.nack()
        except IllegalStateError:
            log.warning("consumer.rewound_after_rebalance", consumer=self.group_id)
            await self._rewound(message.consumer)

    async def stopping(self, *, timeout_s: float = 5.0) -> None:
        """The service is stopping: commit what was applied, and after every batch from now.
        Bounded: with the broker unreachable, aiokafka retries a commit until its consumer
        stops, which only happens after this; what is not committed is redelivered and
        skipped."""
        self._offsets.every_batch()
        try:
            await wait_at_most(timeout_s, self._offsets.commit())
        except TimeoutError:
            log.warning("consumer.offset_commit_at_stop_timed_out", consumer=self.group_id)

    async def apply_with_retry(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply a batch, retried while it fails for reasons that are not its records'."""
        await self._batches.apply_with_retry(records)


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before a rebalance takes partitions away, commits what was applied of them; after it,
    forgets what was kept of partitions no longer this consumer's. The whole group waits for
    this member to rejoin, so the commit gets at most half a session timeout (a member learns
    of the rebalance up to a heartbeat late); rereading is cheaper than waiting more."""

    def __init__(
        self,
        offsets: OffsetCommits,
        batches: BatchApplier,
        applied: AppliedPositions,
        *,
        timeout_s: float,
    ) -> None:
        self._offsets = offsets
        self._batches = batches
        self._applied = applied
        self._timeout_s = timeout_s

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._offsets.commit_revoked(revoked, timeout_s=self._timeout_s)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._offsets.keep_only(assigned)
        self._batches.keep_only(assigned)
        self._applied.keep_only(assigned)

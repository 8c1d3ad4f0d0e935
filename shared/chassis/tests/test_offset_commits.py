"""Kafka offsets are committed at most once per interval, whenever the consumer is idle and
when it stops; and only the offsets of batches that were applied, never aiokafka's positions.
A batch that fails is read again after a pause, from its first records on every partition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata
from orderflow_chassis.batch_applier import BatchApplier
from orderflow_chassis.consumer import EventConsumer
from orderflow_chassis.offset_commits import OffsetCommits
from orderflow_chassis.subscriptions import ConsumerHooks, Subscription
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.events import CartItemAdded

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


class KafkaConsumer:
    """What the offsets need of an aiokafka consumer: its assignment and an explicit commit."""

    def __init__(self, *, assigned: set[TopicPartition] | None = None, fails: bool = False):
        self.assigned = {T0, T1} if assigned is None else assigned
        self.fails = fails
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        if self.fails:
            raise CommitFailedError("the group rebalanced")


def records(partition: int, *offsets: int) -> tuple[ConsumerRecord, ...]:
    return tuple(
        ConsumerRecord("t", partition, offset, 0, 0, None, b"{}", None, 0, 2, [])
        for offset in offsets
    )


class Message:
    def __init__(self, batch: tuple[ConsumerRecord, ...]) -> None:
        self.raw_message = batch
        self.nacked = False

    async def nack(self) -> None:
        self.nacked = True


async def ignore(event: CartItemAdded, uow: Any) -> None:
    raise AssertionError("not applied in these tests")


def event_consumer(
    interval_ms: int, kafka: KafkaConsumer, hooks: ConsumerHooks | None = None
) -> EventConsumer:
    consumer = EventConsumer(
        BatchApplier(
            Subscription(name="g", topics=["t"], handlers={CartItemAdded: ignore}),
            pool=cast(Any, SimpleNamespace()),  # never used: apply_with_retry is replaced
            transactions=cast(Any, SimpleNamespace(outbox=SimpleNamespace(schema="probe"))),
            service="probe",
            group_id="probe.g",
            bootstrap_servers="localhost:1",
            hooks=hooks,
        ),
        on_group_refused=lambda _: None,
    )
    consumer._offsets = OffsetCommits(interval_ms / 1000, consumer="probe.g")
    consumer._offsets.polled(kafka)  # as every poll does
    return consumer


def applying(consumer: EventConsumer, *, failing: set[int] | None = None) -> None:
    """Batches apply, except those whose first offset is in ``failing`` (rewound)."""

    async def apply_with_retry(records: Sequence[ConsumerRecord]) -> None:
        if records[0].offset in (failing or set()):
            raise RuntimeError("the database is gone")

    consumer.apply_with_retry = apply_with_retry  # type: ignore[method-assign]


async def test_batches_within_the_interval_wait_and_an_empty_poll_commits_what_they_applied() -> (
    None
):
    observed: list[int] = []

    async def after_offset_commit(batch: Sequence[ConsumerRecord]) -> None:
        observed.append(batch[0].offset)

    kafka = KafkaConsumer()
    consumer = event_consumer(60_000, kafka, ConsumerHooks(after_offset_commit=after_offset_commit))
    applying(consumer)
    await consumer._on_batch(Message(records(0, 0, 1)))
    assert kafka.commits == [{T0: 2}], "the first batch commits: no commit was made yet"
    await consumer._on_batch(Message(records(0, 2, 3)))
    await consumer._on_batch(Message(records(1, 0)))
    assert kafka.commits == [{T0: 2}], "within the interval, applied batches wait"
    assert observed == [0, 2, 0], "the hook follows every batch, committed or waiting"
    await consumer._offsets.flush(kafka)
    assert kafka.commits[-1] == {T0: 4, T1: 1}, "an empty poll commits what waits"
    await consumer._offsets.flush(kafka)
    assert len(kafka.commits) == 2, "nothing waits any more"


async def test_a_rewound_batch_is_never_committed_even_behind_applied_ones() -> None:
    kafka = KafkaConsumer()
    consumer = event_consumer(60_000, kafka)
    applying(consumer, failing={5})
    await consumer._on_batch(Message(records(0, 0, 1, 2)))  # committed: first
    await consumer._on_batch(Message(records(0, 3, 4)))  # applied, waiting
    rewound = Message(records(0, 5, 6))
    await consumer._on_batch(rewound)  # handed over, not applied
    assert rewound.nacked
    await consumer._offsets.flush(kafka)
    assert kafka.commits == [{T0: 3}, {T0: 5}], "up to the rewound batch, not past it"


async def test_with_no_interval_every_batch_commits_its_own_offsets() -> None:
    kafka = KafkaConsumer()
    consumer = event_consumer(0, kafka)
    applying(consumer)
    for first in (0, 2, 4):
        await consumer._on_batch(Message(records(1, first, first + 1)))
    assert kafka.commits == [{T1: 2}, {T1: 4}, {T1: 6}]


async def test_a_partition_that_moved_is_not_committed_by_its_former_owner() -> None:
    kafka = KafkaConsumer()
    consumer = event_consumer(60_000, kafka)
    applying(consumer)
    await consumer._on_batch(Message(records(0, 0)))
    await consumer._on_batch(Message(records(0, 1) + records(1, 7)))
    kafka.assigned = {T1}  # a rebalance moved partition 0 away
    await consumer._offsets.flush(kafka)
    assert kafka.commits == [{T0: 1}, {T1: 8}]


async def test_a_failed_commit_is_logged_not_raised_and_skips_the_hook() -> None:
    observed: list[int] = []

    async def after_offset_commit(batch: Sequence[ConsumerRecord]) -> None:
        observed.append(batch[0].offset)

    kafka = KafkaConsumer(fails=True)
    consumer = event_consumer(0, kafka, ConsumerHooks(after_offset_commit=after_offset_commit))
    applying(consumer)
    await consumer._on_batch(Message(records(0, 0)))  # a raise would rewind an applied batch
    assert kafka.commits == [{T0: 1}]
    assert observed == []
    await consumer._offsets.flush(kafka)  # kept, and tried again at the next commit
    assert kafka.commits == [{T0: 1}, {T0: 1}]


async def test_a_stopping_consumer_commits_what_waits_and_then_every_batch() -> None:
    kafka = KafkaConsumer()
    consumer = event_consumer(60_000, kafka)
    applying(consumer)
    await consumer._on_batch(Message(records(0, 0)))
    await consumer._on_batch(Message(records(0, 1)))
    await consumer.stopping()
    assert kafka.commits == [{T0: 1}, {T0: 2}]
    await consumer._on_batch(Message(records(0, 2)))  # the batch in hand when it stopped
    assert kafka.commits[-1] == {T0: 3}


async def test_what_a_failed_commit_held_is_committed_next_time_for_partitions_still_ours() -> None:
    kafka = KafkaConsumer(fails=True)
    consumer = event_consumer(60_000, kafka)
    applying(consumer)
    await consumer._on_batch(Message(records(0, 0, 1) + records(1, 4)))  # first: commits, fails
    kafka.fails, kafka.assigned = False, {T1}  # the rebalance behind the failure took partition 0
    await consumer._offsets.flush(kafka)
    assert kafka.commits == [{T0: 2, T1: 5}, {T1: 5}]


async def test_a_batch_whose_poll_hook_fails_is_rewound_not_read_past() -> None:
    async def failing_after_poll(batch: Sequence[ConsumerRecord]) -> None:
        raise RuntimeError("the hook's database blinked")

    kafka = KafkaConsumer()
    consumer = event_consumer(0, kafka, ConsumerHooks(after_poll=failing_after_poll))
    applying(consumer)
    message = Message(records(0, 0))
    await consumer._on_batch(message)  # raised to FastStream, it would be skipped for good
    assert message.nacked
    assert kafka.commits == []


async def test_stopping_gives_up_on_a_commit_that_cannot_finish() -> None:
    class Unreachable(KafkaConsumer):
        async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
            await asyncio.sleep(3600)  # aiokafka retries until its consumer stops

    kafka = Unreachable()
    consumer = event_consumer(60_000, kafka)
    applying(consumer)
    consumer._offsets._last = time.monotonic()  # a commit was made a moment ago
    await consumer._on_batch(Message(records(0, 0)))
    await wait_at_most(5, consumer.stopping(timeout_s=0.1))  # returns, logged


async def test_partitions_a_rebalance_takes_are_committed_first_and_the_rest_wait() -> None:
    kafka = KafkaConsumer()
    consumer = event_consumer(60_000, kafka)
    applying(consumer)
    await consumer._on_batch(Message(records(0, 0)))  # the first batch commits
    await consumer._on_batch(Message(records(0, 1, 2) + records(1, 5)))  # waits
    await consumer._offsets.commit_revoked({T0}, timeout_s=1)
    assert kafka.commits == [{T0: 1}, {T0: 3}], "only the revoked partition, at once"
    await consumer._offsets.flush(kafka)
    assert kafka.commits[-1] == {T1: 6}, "the partition kept waits for the next commit"


async def test_a_revoked_commit_that_fails_or_hangs_is_given_up_not_raised() -> None:
    class Hanging(KafkaConsumer):
        async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
            self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
            await asyncio.sleep(3600)

    for kafka in (KafkaConsumer(fails=True), Hanging()):
        consumer = event_consumer(60_000, kafka)
        consumer._offsets.applied({T0: 4})
        started = time.monotonic()
        await consumer._offsets.commit_revoked({T0}, timeout_s=0.2)  # raises nothing
        assert time.monotonic() - started < 2, "the rebalance waits for it"
        await consumer._offsets.flush(kafka)
        assert kafka.commits == [{T0: 4}], "tried once, not kept: the partition is moving"


async def test_kafka_commits_only_after_what_was_passed_over_is_stored() -> None:
    kafka = KafkaConsumer()
    store = {"fails": True}
    commits_seen: list[int] = []

    async def store_passed_over() -> None:
        commits_seen.append(len(kafka.commits))
        if store["fails"]:
            raise ConnectionError("the database is gone")

    offsets = OffsetCommits(0, consumer="probe.g", before_commit=store_passed_over)
    offsets.polled(kafka)
    offsets.applied({T0: 3})
    assert not await offsets.commit(), "postponed: Kafka would be ahead of the positions"
    assert kafka.commits == []
    store["fails"] = False
    assert await offsets.commit()
    assert kafka.commits == [{T0: 3}], "kept, and committed once stored"
    offsets.applied({T1: 7})
    store["fails"] = True
    await offsets.commit_revoked({T1}, timeout_s=1)
    assert kafka.commits == [{T0: 3}], "a revoked partition is not committed past them either"
    assert commits_seen == [0, 0, 1], "stored before each of Kafka's commits, never after"


async def test_an_idle_consumer_retries_a_postponed_commit_once_per_interval_not_per_poll() -> None:
    """While the database is down, each empty poll (every fetch wait) must not try to store
    the positions again: that would be a connection attempt and a warning per poll."""
    kafka = KafkaConsumer()
    attempts: list[float] = []

    async def store_passed_over() -> None:
        attempts.append(time.monotonic())
        raise ConnectionError("the database is gone")

    offsets = OffsetCommits(0.2, consumer="probe.g", before_commit=store_passed_over)
    offsets.polled(kafka)
    offsets.applied({T0: 3})
    for _ in range(5):  # empty polls in quick succession
        await offsets.flush(kafka)
    assert len(attempts) == 1, "tried again within the interval"
    await asyncio.sleep(0.25)
    await offsets.flush(kafka)
    assert len(attempts) == 2, "tried again once the interval passed"
    assert kafka.commits == []


async def test_every_batch_applied_or_rewound_counts_as_the_consumers_work() -> None:
    class Pacing:
        def __init__(self) -> None:
            self.worked_s: list[float] = []

        def worked(self, seconds: float) -> None:
            self.worked_s.append(seconds)

    consumer = event_consumer(60_000, KafkaConsumer())
    pacing = Pacing()
    consumer._pacing = pacing  # type: ignore[assignment]
    applying(consumer, failing={5})
    await consumer._on_batch(Message(records(0, 0, 1)))
    rewound = Message(records(0, 5))
    await consumer._on_batch(rewound)
    assert rewound.nacked
    assert len(pacing.worked_s) == 2, "the fetch wait follows all of the consumer's time"
    assert all(seconds >= 0 for seconds in pacing.worked_s)


async def test_a_batch_that_keeps_failing_is_read_again_after_growing_pauses() -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    consumer = event_consumer(60_000, KafkaConsumer())
    consumer._pause = sleep
    applying(consumer, failing={5})
    for _ in range(8):
        await consumer._on_batch(Message(records(0, 5, 6)))
    assert pauses[0] >= 0.25, "never read again at once: a hot loop"
    assert pauses[-1] > 10 * pauses[0], "the pause grows while the batch keeps failing"
    assert max(pauses) <= 30
    consumer._longest_pause_s = 2.0  # a tenth of a (short) poll interval
    for _ in range(3):
        await consumer._on_batch(Message(records(0, 5, 6)))
    assert pauses[-3:] == [2.0, 2.0, 2.0], "never past the share of the poll interval"
    await consumer._on_batch(Message(records(0, 7)))  # applied: the run of failures ends
    await consumer._on_batch(Message(records(0, 5, 6)))
    assert pauses[-1] <= 0.5, "a new failure starts from the shortest pause"


class SeekingConsumer(KafkaConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.sought: dict[TopicPartition, int] = {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.sought[partition] = offset


class NackAfterRebalance(Message):
    """FastStream's nack, which stops at the first partition no longer assigned."""

    def __init__(self, batch: tuple[ConsumerRecord, ...], consumer: SeekingConsumer) -> None:
        super().__init__(batch)
        self.consumer = consumer

    async def nack(self) -> None:
        raise IllegalStateError("No current assignment for partition t-2")


async def test_a_batch_rewound_after_a_rebalance_rewinds_every_partition_still_assigned() -> None:
    async def sleep(seconds: float) -> None:
        pass

    kafka = SeekingConsumer()
    consumer = event_consumer(60_000, kafka)
    consumer._pause = sleep
    applying(consumer, failing={5})
    await consumer._on_batch(Message(records(0, 3, 4)))
    await consumer._on_batch(Message(records(1, 0)))
    await consumer._on_batch(NackAfterRebalance(records(0, 5) + records(1, 1), kafka))
    assert kafka.sought == {T0: 5, T1: 1}, "both partitions read again from the failed batch"

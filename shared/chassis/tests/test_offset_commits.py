"""Kafka offsets are committed at most once per interval, and whenever the consumer is idle;
never past a batch that was not applied."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import CommitFailedError
from orderflow_chassis.consumer import EventConsumer
from orderflow_chassis.offset_commits import OffsetCommits
from orderflow_chassis.subscriptions import ConsumerHooks, Subscription
from orderflow_contracts.events import CartItemAdded


class KafkaConsumer:
    def __init__(self, *, fails: bool = False) -> None:
        self.commits = 0
        self.fails = fails

    async def commit(self) -> None:
        self.commits += 1
        if self.fails:
            raise CommitFailedError("the group rebalanced")


class Message:
    def __init__(self, kafka: KafkaConsumer) -> None:
        self.raw_message = (ConsumerRecord("t", 0, 7, 0, 0, None, b"{}", None, 0, 2, []),)
        self.kafka = kafka
        self.nacked = False

    async def ack(self) -> None:
        await self.kafka.commit()

    async def nack(self) -> None:
        self.nacked = True


async def ignore(event: CartItemAdded, uow: Any) -> None:
    raise AssertionError("not applied in these tests")


def event_consumer(interval_ms: int, hooks: ConsumerHooks | None = None) -> EventConsumer:
    consumer = EventConsumer(
        Subscription(name="g", topics=["t"], handlers={CartItemAdded: ignore}),
        pool=cast(Any, SimpleNamespace()),  # never used: apply_with_retry is replaced
        transactions=cast(Any, SimpleNamespace(outbox=SimpleNamespace(schema="probe"))),
        service="probe",
        group_id="probe.g",
        bootstrap_servers="localhost:1",
        hooks=hooks,
    )
    consumer._offsets = OffsetCommits(interval_ms / 1000, consumer="probe.g")
    return consumer


def applying(consumer: EventConsumer, *, fails: bool = False) -> None:
    async def apply_with_retry(records: Sequence[ConsumerRecord]) -> None:
        if fails:
            raise RuntimeError("the database is gone")

    consumer.apply_with_retry = apply_with_retry  # type: ignore[method-assign]


async def test_a_batch_applied_within_the_interval_commits_nothing_until_the_consumer_idles() -> (
    None
):
    observed: list[int] = []

    async def after_offset_commit(records: Sequence[ConsumerRecord]) -> None:
        observed.append(len(records))

    consumer = event_consumer(60_000, ConsumerHooks(after_offset_commit=after_offset_commit))
    applying(consumer)
    kafka = KafkaConsumer()
    await consumer._on_batch(Message(kafka))
    assert kafka.commits == 1, "the first batch commits: no commit was made yet"
    await consumer._on_batch(Message(kafka))
    await consumer._on_batch(Message(kafka))
    assert kafka.commits == 1, "within the interval, applied batches wait"
    assert observed == [1, 1, 1], "the hook still follows every batch"
    await consumer._offsets.flush(kafka)
    assert kafka.commits == 2, "an empty poll commits what waits"
    await consumer._offsets.flush(kafka)
    assert kafka.commits == 2, "nothing waits any more"


async def test_with_no_interval_every_batch_commits() -> None:
    consumer = event_consumer(0)
    applying(consumer)
    kafka = KafkaConsumer()
    for _ in range(3):
        await consumer._on_batch(Message(kafka))
    assert kafka.commits == 3
    await consumer._offsets.flush(kafka)
    assert kafka.commits == 3


async def test_a_rewound_batch_leaves_nothing_to_commit() -> None:
    consumer = event_consumer(0)
    applying(consumer, fails=True)
    kafka = KafkaConsumer()
    message = Message(kafka)
    await consumer._on_batch(message)
    assert message.nacked
    await consumer._offsets.flush(kafka)
    assert kafka.commits == 0


async def test_a_commit_that_fails_at_an_idle_poll_is_logged_not_raised() -> None:
    commits = OffsetCommits(60, consumer="probe.g")
    commits.deferred()
    kafka = KafkaConsumer(fails=True)
    await commits.flush(kafka)  # a raise here would stall FastStream's poll loop for 5 s
    assert kafka.commits == 1
    assert not commits.pending, "the partitions moved: their new owner reads from the positions"


@pytest.mark.parametrize("interval_s", [0.0, 60.0])
def test_the_first_batch_is_always_due(interval_s: float) -> None:
    assert OffsetCommits(interval_s, consumer="probe.g").due()

"""A commit the group coordinator never answers does not stop the consumer (decision 64).

aiokafka retries a commit until the coordinator answers; the positions stored with the effects
are the truth, Kafka's offsets only where a new owner starts reading. So a commit is given up
after a bound, logged once, its offsets kept; the next is tried only after a pause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from orderflow_chassis.batch_applier import BatchApplier
from orderflow_chassis.consumer import EventConsumer
from orderflow_chassis.offset_commits import OffsetCommits
from orderflow_chassis.subscriptions import Subscription
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.events import CartItemAdded

T0 = TopicPartition("t", 0)


class CoordinatorAway:
    """An aiokafka consumer whose commits wait for a coordinator until ``back`` is set."""

    def __init__(self) -> None:
        self.back = asyncio.Event()
        self.attempts = 0
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {T0}

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.attempts += 1
        await self.back.wait()
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


def offset_commits(kafka: CoordinatorAway, *, interval_s: float = 0) -> OffsetCommits:
    offsets = OffsetCommits(
        interval_s, consumer="probe.g", timeout_s=0.1, retry_after_timeout_s=0.5
    )
    offsets.polled(kafka)
    return offsets


async def test_a_commit_never_answered_is_given_up_logged_once_and_kept_for_later() -> None:
    kafka = CoordinatorAway()
    offsets = offset_commits(kafka)
    offsets.applied({T0: 3})

    with structlog.testing.capture_logs() as logs:
        assert not await wait_at_most(5, offsets.commit())
        offsets.applied({T0: 5})
        assert not offsets.due(), "the batches applied meanwhile wait"
        for _ in range(5):  # empty polls within the pause
            await offsets.flush(kafka)

    assert kafka.attempts == 1, "not tried again at every poll"
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("consumer.offset_commit_timed_out", "warning")
    ]
    assert "exc_info" not in logs[0]
    await asyncio.sleep(0.5)
    kafka.back.set()
    assert offsets.due()
    await offsets.flush(kafka)
    assert kafka.commits == [{T0: 5}], "kept, and committed once the coordinator is back"


async def ignore(event: CartItemAdded, uow: Any) -> None:
    raise AssertionError("not applied in these tests")


def batch_of(*offsets: int) -> tuple[ConsumerRecord, ...]:
    return tuple(ConsumerRecord("t", 0, n, 0, 0, None, b"{}", None, 0, 2, []) for n in offsets)


class Message:
    def __init__(self, batch: tuple[ConsumerRecord, ...]) -> None:
        self.raw_message = batch

    async def nack(self) -> None:
        raise AssertionError("every batch applies")


async def test_the_consumer_goes_on_applying_while_the_coordinator_is_away() -> None:
    consumer = EventConsumer(
        BatchApplier(
            Subscription(name="g", topics=["t"], handlers={CartItemAdded: ignore}),
            pool=cast(Any, SimpleNamespace()),  # never used: apply_with_retry is replaced
            transactions=cast(Any, SimpleNamespace(outbox=SimpleNamespace(schema="probe"))),
            service="probe",
            group_id="probe.g",
            bootstrap_servers="localhost:1",
        ),
        on_group_refused=lambda _: None,
    )
    kafka = CoordinatorAway()
    consumer._offsets = offset_commits(kafka)  # a commit after every batch
    applied: list[int] = []

    async def apply_with_retry(records: Sequence[ConsumerRecord]) -> None:
        applied.append(records[0].offset)

    consumer.apply_with_retry = apply_with_retry  # type: ignore[method-assign]

    started = time.monotonic()
    for offset in range(10):
        await wait_at_most(5, consumer._on_batch(Message(batch_of(offset))))

    assert applied == list(range(10))
    assert time.monotonic() - started < 1, "one commit's bound, not one per batch"
    assert kafka.attempts == 1

"""The consumer's poll waits for records; it never sleeps after an empty poll, and a poll that
fails sends every partition back to what was applied."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalStateError,
    InconsistentGroupProtocolError,
    UnsupportedCodecError,
)
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber import usecase as faststream_usecase
from orderflow_chassis import consumer_records, metrics
from orderflow_chassis.batch_applier import BatchApplier
from orderflow_chassis.consumer import EventConsumer, Subscription
from orderflow_chassis.consumer_records import (
    AppliedPositions,
    the_message_itself,
    without_idle_sleep,
)
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.events import CartItemAdded


class FakeConsumer:
    def __init__(self, batches: list[dict[str, list[str]]]) -> None:
        self.batches = batches
        self.polls: list[tuple[int, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.polls.append((timeout_ms, max_records))
        return self.batches.pop(0) if self.batches else {}


def batch_subscriber() -> Any:
    broker = KafkaBroker("localhost:9092")
    return broker.subscriber("topic", group_id="g", batch=True, max_records=7, batch_timeout_ms=500)


def test_fast_streams_batch_subscriber_is_one_the_chassis_can_fix() -> None:
    assert without_idle_sleep(batch_subscriber()), "FastStream's subscriber changed shape"


async def test_an_empty_poll_returns_without_sleeping_and_records_keep_their_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(faststream_usecase, "anyio", SimpleNamespace(sleep=sleep))
    consumer = FakeConsumer([{}, {}, {"p0": ["a", "b"], "p1": ["c"]}])
    unfixed = batch_subscriber()
    assert await unfixed.get_msg(consumer) == ()
    assert sleeps == [0.5], "the set-up: FastStream sleeps after an empty poll"

    subscriber = batch_subscriber()
    without_idle_sleep(subscriber)
    empty = await subscriber.get_msg(consumer)
    assert sleeps == [0.5], "no sleep after an empty poll: the poll itself waited"
    assert empty == ()
    assert await subscriber.get_msg(consumer) == ("a", "b", "c")
    assert consumer.polls == [(500, 7), (500, 7), (500, 7)]


def test_an_object_that_is_not_a_batch_subscriber_is_left_alone() -> None:
    class Other:
        get_msg = "unchanged"

    other = Other()
    assert not without_idle_sleep(other)
    assert other.get_msg == "unchanged"


def test_the_decoder_runs_on_the_event_loop_not_in_a_worker_thread() -> None:
    # FastStream wraps a plain-function decoder in run_in_threadpool: one thread hop per batch.
    assert inspect.iscoroutinefunction(the_message_itself)


def test_the_batch_handler_asks_fast_depends_for_nothing() -> None:
    # An Annotated parameter (FastStream's KafkaMessage is Annotated[..., Context("message")])
    # is a custom field that fast_depends resolves in a worker thread: a hop per batch.
    signature = inspect.signature(EventConsumer._on_batch, eval_str=True)
    annotations = [p.annotation for name, p in signature.parameters.items() if name != "self"]
    assert annotations == [Any]


async def test_the_idle_action_runs_after_an_empty_poll_and_only_then() -> None:
    idle: list[object] = []

    async def on_idle(consumer: object) -> None:
        idle.append(consumer)

    consumer = FakeConsumer([{"p0": ["a"]}, {}])
    subscriber = batch_subscriber()
    without_idle_sleep(subscriber, on_idle=on_idle)
    assert await subscriber.get_msg(consumer) == ("a",)
    assert idle == [], "records were handed over: they are not applied yet"
    assert await subscriber.get_msg(consumer) == ()
    assert idle == [consumer]


class FailingFetchConsumer:
    """A fetch that raises after aiokafka moved positions (see AppliedPositions)."""

    def __init__(self, error: Exception, committed: dict[TopicPartition, int | None]) -> None:
        self.error: Exception | None = error
        self._committed = committed
        self.positions: dict[TopicPartition, int | str] = {}
        self.fetches = 0
        self.coordinator_away = asyncio.Event()  # set: committed() never answers
        self.refused_seeks: set[TopicPartition] = set()
        self.seek_error: Exception | None = None  # raised once by the next seek to the start

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.fetches += 1
        if self.error is not None:
            raise self.error
        return {}

    def assignment(self) -> set[TopicPartition]:
        return set(self._committed)

    async def committed(self, partition: TopicPartition) -> int | None:
        if self.coordinator_away.is_set():
            await asyncio.Event().wait()  # aiokafka retries the coordinator without end
        return self._committed[partition]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition in self.refused_seeks:
            raise IllegalStateError(f"No current assignment for partition {partition}")
        self.positions[partition] = offset

    async def seek_to_beginning(self, partition: TopicPartition) -> None:
        error, self.seek_error = self.seek_error, None
        if error is not None:
            raise error
        self.positions[partition] = "beginning"


async def test_a_failed_fetch_sends_every_partition_back_to_what_was_applied() -> None:
    applied_p0, committed_p1, new_p2, revoked = (TopicPartition("t", p) for p in range(4))
    positions = AppliedPositions()
    positions.applied({applied_p0: 41, revoked: 7})
    positions.keep_only({applied_p0, committed_p1, new_p2})
    consumer = FailingFetchConsumer(
        UnsupportedCodecError("lz4"), {applied_p0: 12, committed_p1: 30, new_p2: None}
    )
    subscriber = batch_subscriber()
    without_idle_sleep(subscriber, on_fetch_error=lambda consumer, _: positions.rewind(consumer))
    with pytest.raises(UnsupportedCodecError):  # FastStream logs it and polls again later
        await subscriber.get_msg(consumer)
    assert consumer.positions == {applied_p0: 41, committed_p1: 30, new_p2: "beginning"}


async def test_an_unanswered_committed_offset_holds_the_next_fetch_back_not_the_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker that failed the fetch may be away: reading a committed offset then waits
    without end. The rewind gives up in time, and no fetch runs (it would read on past the
    records the failed fetch took) until that partition is sent back."""
    monkeypatch.setattr(consumer_records, "_OWED_REWIND_PAUSE_S", 0.01)
    applied, unknown = TopicPartition("t", 0), TopicPartition("t", 1)
    positions = AppliedPositions(timeout_s=0.05)
    positions.applied({applied: 41})
    consumer = FailingFetchConsumer(UnsupportedCodecError("lz4"), {applied: 12, unknown: 30})
    consumer.coordinator_away.set()
    subscriber = batch_subscriber()
    without_idle_sleep(
        subscriber,
        on_fetch_error=lambda consumer, _: positions.rewind(consumer),
        before_fetch=positions.settle,
    )

    with pytest.raises(UnsupportedCodecError):
        await wait_at_most(5, subscriber.get_msg(consumer))
    assert consumer.positions == {applied: 41}, "what needs no broker is sent back at once"

    consumer.error = None
    assert await wait_at_most(5, subscriber.get_msg(consumer)) == ()
    assert consumer.fetches == 1, "no fetch while a partition is owed its rewind"

    consumer.coordinator_away.clear()
    assert await subscriber.get_msg(consumer) == ()
    assert consumer.positions == {applied: 41, unknown: 30}
    assert consumer.fetches == 2, "fetching resumes once every partition is back"


async def test_a_refused_seek_does_not_leave_the_other_partitions_read_on() -> None:
    first, refused, last = (TopicPartition("t", p) for p in range(3))
    positions = AppliedPositions()
    positions.applied({first: 5, refused: 6, last: 7})
    consumer = FailingFetchConsumer(UnsupportedCodecError("lz4"), {first: 0, refused: 0, last: 0})
    consumer.refused_seeks.add(refused)

    await positions.rewind(consumer)
    assert consumer.positions == {first: 5, last: 7}
    assert not await positions.settle(consumer), "the refused one is still owed"

    consumer.refused_seeks.clear()
    assert await positions.settle(consumer)
    assert consumer.positions == {first: 5, refused: 6, last: 7}


async def test_the_partitions_owed_a_rewind_are_exported() -> None:
    """The consumer reads nothing while one is owed, so its lag stands still: the gauge (and
    its alert) is what shows it."""
    partition = TopicPartition("t", 0)
    positions = AppliedPositions(timeout_s=0.05, labels=("probe", "owed-gauge"))
    consumer = FailingFetchConsumer(UnsupportedCodecError("lz4"), {partition: 3})
    consumer.coordinator_away.set()
    gauge = metrics.CONSUMER_REWINDS_OWED.labels("probe", "owed-gauge")

    await positions.rewind(consumer)
    assert gauge._value.get() == 1
    consumer.coordinator_away.clear()
    assert await positions.settle(consumer)
    assert gauge._value.get() == 0


async def test_a_partition_taken_away_is_not_owed_a_rewind() -> None:
    kept, taken = TopicPartition("t", 0), TopicPartition("t", 1)
    positions = AppliedPositions(timeout_s=0.05)
    consumer = FailingFetchConsumer(UnsupportedCodecError("lz4"), {kept: 3, taken: 4})
    consumer.refused_seeks.add(taken)
    await positions.rewind(consumer)
    assert not await positions.settle(consumer)

    del consumer._committed[taken]  # a rebalance gave it to another member
    assert await positions.settle(consumer), "its new owner reads it from the committed offset"


async def test_a_stopped_consumer_is_not_rewound() -> None:
    partition = TopicPartition("t", 0)
    consumer = FailingFetchConsumer(ConsumerStoppedError(), {partition: 3})
    rewinds: list[Any] = []

    async def rewind(kafka_consumer: Any, error: Exception) -> None:
        rewinds.append(kafka_consumer)

    subscriber = batch_subscriber()
    without_idle_sleep(subscriber, on_fetch_error=rewind)
    with pytest.raises(ConsumerStoppedError):
        await subscriber.get_msg(consumer)
    assert rewinds == []


def registered_consumer(groups_refused: list[str]) -> tuple[EventConsumer, Any]:
    """A consumer registered as a service's is, and the subscriber FastStream polls it with."""
    broker = KafkaBroker("localhost:9092")
    declared: list[Any] = []
    declare = broker.subscriber

    def keep(*topics: str, **options: Any) -> Any:
        declared.append(declare(*topics, **options))
        return declared[-1]

    broker.subscriber = keep  # type: ignore[method-assign,assignment]
    consumer = EventConsumer(
        BatchApplier(
            Subscription(name="g", topics=["t"], handlers={CartItemAdded: ignore}),
            pool=cast(Any, SimpleNamespace()),
            transactions=cast(Any, SimpleNamespace(outbox=SimpleNamespace(schema="probe"))),
            service="probe",
            group_id="probe.g",
            bootstrap_servers="localhost:1",
        ),
        on_group_refused=groups_refused.append,
    )
    consumer._applied = AppliedPositions(timeout_s=0.05)
    consumer.register(
        broker,
        max_records=200,
        batch_timeout_ms=50,
        fetch_min_bytes=1,
        fetch_max_wait_ms=50,
        fetch_loaded_max_wait_ms=200,
    )
    return consumer, declared[0]


@pytest.mark.parametrize(
    ("error", "refused"),
    [(InconsistentGroupProtocolError(), ["probe.g"]), (UnsupportedCodecError("lz4"), [])],
)
async def test_a_group_refusing_a_running_consumer_stops_the_service_other_errors_do_not(
    error: Exception, refused: list[str]
) -> None:
    """Members of an older version re-formed the group (decision 75): this consumer would get
    no partition for as long as they run, aiokafka trying the join again, every check green."""
    groups: list[str] = []
    _, subscriber = registered_consumer(groups)
    partition = TopicPartition("t", 0)
    kafka = FailingFetchConsumer(error, {partition: 3})

    with pytest.raises(type(error)):
        await subscriber.get_msg(kafka)
    assert groups == refused
    assert kafka.positions == {partition: 3}, "sent back to what was applied either way"


async def test_a_refusal_raised_by_a_rewinds_seek_is_reported_not_taken_for_a_failed_seek(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiokafka raises the refusal from the next call that checks for errors: with a rewind
    owed, that is the seek before the fetch, and a failed seek is otherwise only retried."""
    monkeypatch.setattr(consumer_records, "_OWED_REWIND_PAUSE_S", 0.01)
    groups: list[str] = []
    _, subscriber = registered_consumer(groups)
    never_committed = TopicPartition("t", 0)
    kafka = FailingFetchConsumer(UnsupportedCodecError("lz4"), {never_committed: None})
    kafka.coordinator_away.set()
    with pytest.raises(UnsupportedCodecError):  # its rewind is owed: committed() unanswered
        await wait_at_most(5, subscriber.get_msg(kafka))

    kafka.error = None
    kafka.coordinator_away.clear()
    kafka.seek_error = InconsistentGroupProtocolError()
    with pytest.raises(InconsistentGroupProtocolError):
        await wait_at_most(5, subscriber.get_msg(kafka))
    assert groups == ["probe.g"]
    assert kafka.fetches == 1, "no fetch while the rewind is owed"
    assert kafka.positions == {never_committed: "beginning"}, "then sent back all the same"


async def ignore(event: Any, uow: Any) -> None:
    return None

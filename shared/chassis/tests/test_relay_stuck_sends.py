"""A producer that never delivers never holds the relay up (decision 64): a wave Kafka does not
acknowledge in time ends the round, and the producer is replaced without waiting for it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from orderflow_chassis.outbox import stop_producer
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay import OutboxRelay, ProducerUnavailable
from orderflow_chassis.relay_sending import send_in_waves
from orderflow_chassis.waiting import wait_at_most


def row(row_id: int, key: str) -> OutboxRow:
    return OutboxRow(row_id, "orders", key, b"{}", [], 0)


class PartlyStuckProducer:
    """Acknowledges at once, except the rows of ``stuck_keys``: their acknowledgement never
    comes, as with an idempotent aiokafka producer retrying a partition below its min ISR."""

    def __init__(self, *, stuck_keys: set[str], ack_delay_s: float = 0.0) -> None:
        self.stuck_keys = stuck_keys
        self.ack_delay_s = ack_delay_s
        self.sent: list[int] = []
        self.never_acknowledged: list[asyncio.Future[None]] = []

    async def send(self, outbox_row: OutboxRow) -> Awaitable[object]:
        self.sent.append(outbox_row.id)
        if outbox_row.key in self.stuck_keys:
            ack = asyncio.get_running_loop().create_future()
            self.never_acknowledged.append(ack)
            return ack
        return asyncio.sleep(self.ack_delay_s)


async def test_a_wave_never_acknowledged_ends_the_round_with_what_was_acknowledged() -> None:
    producer = PartlyStuckProducer(stuck_keys={"a"})
    rows = [row(1, "a"), row(2, "b"), row(3, "a"), row(4, "b"), row(5, "c")]

    started = time.monotonic()
    report = await wait_at_most(
        5, send_in_waves(rows, producer.send, park_after_attempts=3, ack_timeout_s=0.2)
    )

    assert time.monotonic() - started < 2
    assert [r.id for r in report.acknowledged] == [2, 5], "stamped by this round"
    assert [f.row.id for f in report.transient] == [1], "sent again by a later round"
    assert "did not acknowledge it within 0.2 s" in report.transient[0].error
    assert len(report.timed_out) == 1, "the relay replaces the producer that may still hold it"
    assert producer.sent == [1, 2, 5], "no further wave on a producer about to be replaced"
    assert report.held_back == 2
    assert report.parked == []
    assert report.refused == []
    assert all(ack.cancelled() for ack in producer.never_acknowledged), "nothing left waiting"


async def test_a_hand_over_that_never_returns_times_out_too() -> None:
    class FullProducer(PartlyStuckProducer):
        async def send(self, outbox_row: OutboxRow) -> Awaitable[object]:
            if outbox_row.key == "a":  # aiokafka waits for room in a partition's batch
                await asyncio.Event().wait()
            return await super().send(outbox_row)

    report = await wait_at_most(
        5,
        send_in_waves(
            [row(1, "b"), row(2, "a"), row(3, "c")],
            FullProducer(stuck_keys=set()).send,
            park_after_attempts=3,
            ack_timeout_s=0.2,
        ),
    )

    assert [r.id for r in report.acknowledged] == [1]
    assert [f.row.id for f in report.transient] == [2, 3], "never handed over: sent next round"
    assert len(report.timed_out) == 2


async def test_no_wave_starts_once_the_bound_has_passed_since_the_first() -> None:
    producer = PartlyStuckProducer(stuck_keys=set(), ack_delay_s=0.4)
    rows = [row(n, "a") for n in range(1, 7)]

    report = await send_in_waves(rows, producer.send, park_after_attempts=3, ack_timeout_s=1.0)

    acknowledged = [r.id for r in report.acknowledged]
    assert acknowledged == list(range(1, len(acknowledged) + 1)), "in order, each acknowledged"
    assert 2 <= len(acknowledged) <= 3, "a wave started before the bound is waited for"
    assert report.held_back == 6 - len(acknowledged), "the rest waits for the next round"
    assert not report.failed, "slow is not failing: no pause, no replaced producer"
    assert len(report.timed_out) == 0


async def _retrying_until_cancelled() -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


async def stuck_producer() -> tuple[AIOKafkaProducer, asyncio.Future[object]]:
    """A real idempotent producer holding one record its sender retries forever (as aiokafka
    does for a partition below its min.insync.replicas), and that record's delivery."""
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", enable_idempotence=True)
    delivery = await producer._message_accumulator.add_message(
        TopicPartition("orders", 0), b"key", b"value", timeout=1
    )
    producer._sender._sender_task = asyncio.create_task(_retrying_until_cancelled())
    return producer, delivery


async def test_a_producer_that_never_delivers_is_stopped_within_bounds() -> None:
    producer, delivery = await stuck_producer()
    with pytest.raises(TimeoutError):  # what aiokafka's stop() waits for first
        await wait_at_most(0.2, producer.flush())

    started = time.monotonic()
    abandoned = await stop_producer(producer, flush_s=0.1, close_s=0.5)

    assert time.monotonic() - started < 2
    assert abandoned == 1
    assert isinstance(delivery.exception(), KafkaError)
    assert producer._sender.sender_task.done(), "no retrying left behind"


class Reachable(AIOKafkaProducer):  # type: ignore[misc]
    """Starts as if Kafka answered."""

    async def start(self) -> None:
        return None


def relay_with(producer: AIOKafkaProducer, *, new_producer: Any) -> OutboxRelay:
    return OutboxRelay(
        cast(Any, None),  # no round runs: the database is never asked
        producer,
        schema="probe",
        service="probe",
        new_producer=new_producer,
        ack_timeout_s=0.5,
    )


async def test_a_stuck_producer_is_replaced_without_waiting_for_what_it_holds() -> None:
    stuck, delivery = await stuck_producer()
    made: list[AIOKafkaProducer] = []

    def new_producer() -> AIOKafkaProducer:
        made.append(Reachable(bootstrap_servers="127.0.0.1:1", enable_idempotence=True))
        return made[-1]

    relay = relay_with(stuck, new_producer=new_producer)
    relay._producer_stuck = True  # as after a round whose wave timed out

    await wait_at_most(5, relay._replace_producer(new_producer))

    assert relay._producer is made[0]
    assert not relay._producer_stuck
    assert isinstance(delivery.exception(), KafkaError), "abandoned: published again instead"
    assert stuck._sender.sender_task.done()


async def test_when_no_producer_can_start_the_relay_stops_leading_and_says_why() -> None:
    stuck, _ = await stuck_producer()

    def unreachable() -> AIOKafkaProducer:  # nothing listens on port 1: refused at once
        return AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", enable_idempotence=True)

    relay = relay_with(stuck, new_producer=unreachable)
    relay._producer_stuck = True
    relay.is_leader = True

    with pytest.raises(ProducerUnavailable, match="KafkaConnectionError"):
        await wait_at_most(5, relay._replace_producer(unreachable))

    assert relay._producer_stuck, "tried again before the next round"
    assert not relay.is_leader, "its lease ages, and another instance may take over"

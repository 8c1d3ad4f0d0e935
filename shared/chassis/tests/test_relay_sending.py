"""How a claimed batch is sent: per-key waves, holding back, parking, error classes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from orderflow_chassis.kafka_admin import topics_a_service_uses
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay_sending import is_permanent_send_error, send_in_waves


def row(row_id: int, key: str, *, attempts: int = 0) -> OutboxRow:
    return OutboxRow(row_id, "orders", key, b"{}", [], attempts)


class FakeProducer:
    """Acknowledges every row unless told to fail it, and records what was in flight."""

    def __init__(
        self,
        *,
        fail_on_ack: dict[int, BaseException] | None = None,
        fail_on_send: dict[int, BaseException] | None = None,
    ) -> None:
        self.fail_on_ack = fail_on_ack or {}
        self.fail_on_send = fail_on_send or {}
        self.sent: list[int] = []
        self.in_flight: list[OutboxRow] = []
        self.overlaps: list[tuple[int, int]] = []

    async def send(self, outbox_row: OutboxRow) -> Awaitable[object]:
        if outbox_row.id in self.fail_on_send:
            raise self.fail_on_send[outbox_row.id]
        for other in self.in_flight:
            if other.key == outbox_row.key:
                self.overlaps.append((other.id, outbox_row.id))
        self.in_flight.append(outbox_row)
        self.sent.append(outbox_row.id)
        return self._ack(outbox_row)

    async def _ack(self, outbox_row: OutboxRow) -> None:
        await asyncio.sleep(0)
        self.in_flight.remove(outbox_row)
        if outbox_row.id in self.fail_on_ack:
            raise self.fail_on_ack[outbox_row.id]


async def test_a_keys_next_row_is_sent_only_after_the_previous_one_was_acknowledged() -> None:
    producer = FakeProducer()
    rows = [row(1, "a"), row(2, "b"), row(3, "a"), row(4, "a"), row(5, "c")]

    report = await send_in_waves(rows, producer.send, park_after_attempts=3)

    assert producer.overlaps == []
    assert producer.sent == [1, 2, 5, 3, 4]  # waves: first row of each key, then the next
    assert sorted(r.id for r in report.acknowledged) == [1, 2, 3, 4, 5]
    assert not report.failed


async def test_a_transient_failure_holds_back_the_rest_of_its_key_only() -> None:
    producer = FakeProducer(fail_on_ack={1: NotLeaderForPartitionError()})
    rows = [row(1, "a"), row(2, "b"), row(3, "a"), row(4, "b")]

    report = await send_in_waves(rows, producer.send, park_after_attempts=1)

    assert 3 not in producer.sent, "a later row of the failed key must not even be sent"
    assert [r.id for r in report.acknowledged] == [2, 4]
    assert [f.row.id for f in report.transient] == [1]
    assert report.parked == [], "transient failures are never parked, whatever the attempts"
    assert report.held_back == 1


async def test_a_refused_row_holds_its_key_back_until_it_runs_out_of_attempts() -> None:
    too_large = MessageSizeTooLargeError("the message is 2097152 bytes")
    rows = [row(1, "a", attempts=1), row(2, "a"), row(3, "b")]

    early = await send_in_waves(
        rows, FakeProducer(fail_on_send={1: too_large}).send, park_after_attempts=3
    )
    last = await send_in_waves(
        [row(1, "a", attempts=2), row(2, "a"), row(3, "b")],
        FakeProducer(fail_on_send={1: too_large}).send,
        park_after_attempts=3,
    )

    assert [f.row.id for f in early.refused] == [1]
    assert [r.id for r in early.acknowledged] == [3]
    assert early.held_back == 1
    assert [f.row.id for f in last.parked] == [1]
    assert "MessageSizeTooLargeError" in last.parked[0].error
    assert [r.id for r in last.acknowledged] == [3, 2], "the rows behind a parked row flow"
    assert not last.failed


def test_only_refusals_of_the_record_itself_are_permanent() -> None:
    assert is_permanent_send_error(MessageSizeTooLargeError())
    # An ACL change or a credential rotation: parked, a valid event went out after its key's
    # later ones once an operator released it.
    assert not is_permanent_send_error(TopicAuthorizationFailedError())
    assert not is_permanent_send_error(ClusterAuthorizationFailedError())
    assert not is_permanent_send_error(KafkaConnectionError())
    assert not is_permanent_send_error(KafkaTimeoutError())
    assert not is_permanent_send_error(NotLeaderForPartitionError())
    assert not is_permanent_send_error(RuntimeError("anything unknown is retried"))


def test_a_service_creates_every_contract_topic_and_every_dead_letter_topic() -> None:
    names = topics_a_service_uses("p.", ["test.private"])

    assert {"p.orders", "p.orders.dlq", "p.test.private", "p.test.private.dlq"} <= set(names)
    assert not any(name.endswith(".dlq.dlq") for name in names)
    assert len(names) == len(set(names))

"""``orderflow-dlq replay`` never waits without bound: a producer that cannot start, or a
letter Kafka does not take back in time, stops the replay, which says what it replayed and
where it stopped."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaTimeoutError
from orderflow_chassis import dlq_cli, outbox
from orderflow_chassis.dlq_cli import ReplayStopped, StoredDeadLetter, publish_replays, replay
from orderflow_chassis.waiting import wait_at_most
from typer.testing import CliRunner

LETTERS = [
    StoredDeadLetter(0, offset, b"k", b'{"event_id": "e-%d"}' % offset, []) for offset in range(3)
]


class StuckProducer:
    """Starts (unless ``starts`` is False: it then waits for Kafka for ever), acknowledges the
    first ``answered`` sends, then waits for ever as an idempotent producer does for a leader
    out of reach, or fails with ``error``."""

    def __init__(self, answered: int, error: Exception | None = None, starts: bool = True):
        self.answered = answered
        self.error = error
        self.starts = starts
        self.sent: list[bytes] = []

    async def start(self) -> None:
        if not self.starts:
            await asyncio.Event().wait()

    async def send_and_wait(self, topic: str, value: bytes, **_: Any) -> str:
        self.sent.append(value)
        if len(self.sent) > self.answered:
            if self.error is not None:
                raise self.error
            await asyncio.Event().wait()
        return f"{topic}@{len(self.sent)}"


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> list[StuckProducer]:
    """The producers the replay makes: set ``made[0]`` before replaying."""
    made: list[StuckProducer] = []

    async def stopped(*_: object, **__: object) -> int:
        return 0

    monkeypatch.setattr(dlq_cli, "create_producer", lambda *_, **__: made[0])
    monkeypatch.setattr(dlq_cli, "stop_producer", stopped)
    monkeypatch.setattr(outbox, "stop_producer", stopped)  # start_producer's, on a failed start
    return made


async def test_an_unacknowledged_letter_stops_the_replay_in_time(
    producer: list[StuckProducer],
) -> None:
    producer.append(StuckProducer(answered=1))
    with pytest.raises(ReplayStopped) as stopped:
        await wait_at_most(5, replay("kafka:9092", LETTERS, "orders.dlq", timeout_s=0.05))
    assert stopped.value.replayed == LETTERS[:1]
    assert str(stopped.value) == (
        "stopped at partition 0 offset 1: Kafka did not acknowledge it within 0.05 s"
    )
    assert len(producer[0].sent) == 2, "nothing is sent after the letter that was not taken"


async def test_a_kafka_error_stops_the_replay_naming_it(producer: list[StuckProducer]) -> None:
    producer.append(StuckProducer(answered=2, error=KafkaTimeoutError()))
    with pytest.raises(ReplayStopped) as stopped:
        await replay("kafka:9092", LETTERS, "orders.dlq")
    assert stopped.value.replayed == LETTERS[:2]
    assert "stopped at partition 0 offset 2: KafkaTimeoutError" in str(stopped.value)


async def test_a_producer_that_cannot_start_stops_the_replay_before_any_letter(
    producer: list[StuckProducer],
) -> None:
    producer.append(StuckProducer(answered=3, starts=False))
    with pytest.raises(ReplayStopped) as stopped:
        await wait_at_most(5, replay("kafka:9092", LETTERS, "orders.dlq", timeout_s=0.05))
    assert stopped.value.replayed == []
    assert "no producer could start: Kafka did not answer" in str(stopped.value)
    assert producer[0].sent == []


def test_the_command_lists_what_it_replayed_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    async def read(*_: object) -> list[StoredDeadLetter]:
        return LETTERS

    async def stuck_replay(*_: object) -> int:
        raise ReplayStopped(LETTERS[:1], LETTERS[1], "Kafka did not acknowledge it within 30 s")

    monkeypatch.setattr(dlq_cli, "read_dead_letters", read)
    monkeypatch.setattr(dlq_cli, "replay", stuck_replay)
    arguments = ["replay", "orders.dlq", "--bootstrap-servers", "127.0.0.1:1", "--partition", "0"]
    offsets = ["--offset", "0", "--offset", "1", "--offset", "2"]
    result = CliRunner().invoke(dlq_cli.app, [*arguments, *offsets])
    assert result.exit_code == 1, result.output
    assert "replayed orders.dlq partition 0 offset 0 (event e-0)" in result.output
    assert "offset 1 (event" not in result.output
    assert "stopped at partition 0 offset 1: Kafka did not acknowledge it within 30 s" in (
        result.output
    )
    assert "1 of 3 replayed" in result.output


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[list[tuple[str, bytes]]] = []

    async def send_and_wait(self, topic: str, value: bytes, **kwargs: Any) -> str:
        self.sent.append(kwargs["headers"])
        return topic


async def test_a_replayed_letter_says_only_where_it_was_replayed_from() -> None:
    # A letter that was itself a replay kept its replayed_from, and the new one was added:
    # the console read the first, and tied the new failure to the first letter.
    again = StoredDeadLetter(
        0,
        9,
        b"key",
        b"{}",
        [("event_type", b"OrderPlaced"), ("replayed_from", b"orders.dlq:0:5")],
    )
    producer = RecordingProducer()

    await publish_replays(cast(Any, producer), [again], "orders.dlq")

    [headers] = producer.sent
    assert [v for k, v in headers if k == "replayed_from"] == [b"orders.dlq:0:9"]
    assert ("event_type", b"OrderPlaced") in headers

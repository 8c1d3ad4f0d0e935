"""``orderflow-dlq replay`` never waits without bound: a letter Kafka does not take back in
time stops the replay, which says what it replayed and where it stopped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from orderflow_chassis import dlq_cli
from orderflow_chassis.dlq_cli import ReplayStopped, StoredDeadLetter, publish_replays
from typer.testing import CliRunner

LETTERS = [
    StoredDeadLetter(0, offset, b"k", b'{"event_id": "e-%d"}' % offset, []) for offset in range(3)
]


class StuckProducer:
    """Acknowledges the first ``answered`` sends; then waits as an idempotent producer does for
    a leader out of reach (for ever), or fails with ``error``."""

    def __init__(self, answered: int, error: Exception | None = None) -> None:
        self.answered = answered
        self.error = error
        self.sent: list[bytes] = []

    async def send_and_wait(self, topic: str, value: bytes, **_: Any) -> str:
        self.sent.append(value)
        if len(self.sent) > self.answered:
            if self.error is not None:
                raise self.error
            await asyncio.Event().wait()
        return f"{topic}@{len(self.sent)}"


async def test_an_unacknowledged_letter_stops_the_replay_in_time() -> None:
    producer = StuckProducer(answered=1)
    with pytest.raises(ReplayStopped) as stopped:
        await asyncio.wait_for(publish_replays(producer, LETTERS, "orders.dlq", timeout_s=0.05), 5)
    assert stopped.value.replayed == LETTERS[:1]
    assert str(stopped.value) == (
        "stopped at partition 0 offset 1: orders did not acknowledge it within 0.05 s"
    )
    assert len(producer.sent) == 2, "nothing is sent after the letter that was not taken"


async def test_a_kafka_error_stops_the_replay_naming_it() -> None:
    producer = StuckProducer(answered=2, error=KafkaTimeoutError())
    with pytest.raises(ReplayStopped) as stopped:
        await publish_replays(producer, LETTERS, "orders.dlq")
    assert stopped.value.replayed == LETTERS[:2]
    assert "stopped at partition 0 offset 2: KafkaTimeoutError" in str(stopped.value)


def test_the_command_lists_what_it_replayed_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    async def read(*_: object) -> list[StoredDeadLetter]:
        return LETTERS

    async def replay(*_: object) -> int:
        raise ReplayStopped(LETTERS[:1], LETTERS[1], "orders did not acknowledge it within 30 s")

    monkeypatch.setattr(dlq_cli, "read_dead_letters", read)
    monkeypatch.setattr(dlq_cli, "replay", replay)
    arguments = ["replay", "orders.dlq", "--bootstrap-servers", "127.0.0.1:1"]
    result = CliRunner().invoke(
        dlq_cli.app,
        [*arguments, "--partition", "0", "--offset", "0", "--offset", "1", "--offset", "2"],
    )
    assert result.exit_code == 1, result.output
    assert "replayed orders.dlq partition 0 offset 0 (event e-0)" in result.output
    assert "offset 1 (event" not in result.output
    assert "stopped at partition 0 offset 1: orders did not acknowledge it within 30 s" in (
        result.output
    )
    assert "1 of 3 replayed" in result.output

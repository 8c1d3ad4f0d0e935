"""A dead letter that does not hold its original record is never replayed: one with a part
withheld (it could not be screened for card data) or its value cut to fit the topic."""

from __future__ import annotations

from typing import Any

import pytest
from orderflow_chassis import dlq_cli
from orderflow_chassis.dead_letters import DeadLetter
from orderflow_chassis.dlq_cli import StoredDeadLetter, UnreplayableLetter, publish_replays
from typer.testing import CliRunner

PAN = "4111111111111111"


def stored(offset: int, **overrides: Any) -> StoredDeadLetter:
    """What the DLQ topic holds of the dead letter built from ``overrides``."""
    fields: dict[str, Any] = {
        "original_topic": "orders",
        "partition": 1,
        "offset": 40 + offset,
        "key": b"order-1",
        "value": b'{"event_id": "e-%d"}' % offset,
        "headers": [("event_type", b"OrderPlaced")],
        "error_code": "malformed_json",
        "reason": "not JSON",
        "service": "payment",
        "consumer": "orderflow.payment.orders",
        **overrides,
    }
    letter = DeadLetter(**fields)
    return StoredDeadLetter(0, offset, letter.key, letter.value, letter.kafka_headers())


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, **_: Any) -> Any:
        self.sent.append((topic, value))
        return None


CLEAN = stored(0)
WITHHELD_VALUE = stored(1, value=f"PAN {PAN}".encode("utf-16-le"))
WITHHELD_HEADER = stored(2, headers=[("x-note", PAN.encode("utf-16-le"))])
TRUNCATED = StoredDeadLetter(
    0, 3, b"k", b'{"x": "aaa', [("dlq.truncated", b"true"), ("dlq.original_topic", b"orders")]
)


def test_a_letter_holding_its_original_record_is_replayable() -> None:
    assert CLEAN.unreplayable_because is None


@pytest.mark.parametrize(
    ("letter", "says"),
    [
        (WITHHELD_VALUE, "part of it (value) could not be screened for card data"),
        (WITHHELD_HEADER, "part of it (header values) could not be screened for card data"),
        (TRUNCATED, "its value was cut to fit the dead-letter topic"),
    ],
)
def test_a_letter_not_holding_its_original_record_says_why_and_where_the_original_is(
    letter: StoredDeadLetter, says: str
) -> None:
    why = letter.unreplayable_because
    assert why is not None
    assert why.startswith(says)
    assert "the original is at orders partition" in why


async def test_publishing_refuses_the_whole_batch_before_sending_anything() -> None:
    producer = RecordingProducer()
    with pytest.raises(UnreplayableLetter) as refused:
        await publish_replays(producer, [CLEAN, WITHHELD_VALUE], "orders.dlq")
    assert "orders.dlq partition 0 offset 1" in str(refused.value)
    assert producer.sent == []
    await publish_replays(producer, [CLEAN], "orders.dlq")
    assert producer.sent == [("orders", CLEAN.value)]


def test_the_replay_command_names_the_letter_and_replays_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def read(*_: object) -> list[StoredDeadLetter]:
        return [CLEAN, WITHHELD_VALUE]

    async def replay(*_: object) -> int:
        raise AssertionError("a withheld letter was about to be replayed")

    monkeypatch.setattr(dlq_cli, "read_dead_letters", read)
    monkeypatch.setattr(dlq_cli, "replay", replay)
    arguments = ["replay", "orders.dlq", "--bootstrap-servers", "127.0.0.1:1"]
    result = CliRunner().invoke(dlq_cli.app, [*arguments, "--error-code", "malformed_json"])
    assert result.exit_code == 2, result.output
    assert "orders.dlq partition 0 offset 1: part of it (value)" in result.output
    assert "nothing replayed" in result.output

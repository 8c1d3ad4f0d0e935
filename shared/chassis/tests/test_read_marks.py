"""Read marks without Kafka: nothing may be concluded, and the failure is one that passes."""

from __future__ import annotations

import pytest
from orderflow_chassis import read_marks
from orderflow_chassis.errors import TransientError, is_transient
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.read_marks import ReadMarks


async def test_marks_kafka_cannot_give_are_a_transient_failure() -> None:
    marks = ReadMarks(
        "127.0.0.1:9", security=KafkaSecurity(), consumer="returns.events", topics=["orders"]
    )

    with pytest.raises(TransientError) as failure:
        await marks.take()
    assert is_transient(failure.value)


@pytest.mark.parametrize("listed", [{}, {"orders": [0, 1]}, {"orders": [0], "payments": []}])
async def test_a_topic_kafka_leaves_out_is_no_mark_reached_but_a_transient_failure(
    monkeypatch: pytest.MonkeyPatch, listed: dict[str, list[int]]
) -> None:
    # Review (helper 122): left out of the marks, the topic counted as read: a reservation
    # was released, a return refused, while its payment or delivery was still unread there.
    async def topic_partitions(*_: object) -> dict[str, list[int]]:
        return listed

    monkeypatch.setattr(read_marks, "topic_partitions", topic_partitions)
    marks = ReadMarks(
        "127.0.0.1:9",
        security=KafkaSecurity(),
        consumer="fulfillment.events",
        topics=["orders", "payments"],
    )

    with pytest.raises(TransientError, match="payments"):
        await marks.take()

"""Read marks without Kafka: nothing may be concluded, and the failure is one that passes."""

from __future__ import annotations

import pytest
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

"""Records below a stored position are skipped as redelivered only once Kafka confirmed the
topic's id: a topic deleted and created again starts at offset 0, and its first records must
not be taken for ones applied before. The statements and Kafka's answers are faked."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from orderflow_chassis import positions as positions_module
from orderflow_chassis.errors import TransientError, is_transient
from orderflow_chassis.positions import ConsumerPositions, TopicIdentity

TOPIC = "topic-lives"
FIRST_LIFE = uuid.uuid4()


class Database:
    """Answers the position lock with one stored position of the topic's first life."""

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [
            {"topic": t, "kafka_partition": p, "next_offset": 5000, "topic_id": FIRST_LIFE}
            for t, p in zip(args[1], args[2], strict=True)
        ]


def first_records_of_a_life() -> list[ConsumerRecord]:
    return [ConsumerRecord(TOPIC, 0, n, 0, 0, None, b"{}", None, 0, 2, []) for n in range(3)]


async def lock(topics: TopicIdentity) -> dict[tuple[str, int], int]:
    positions = ConsumerPositions("probe", "probe.topic-lives", service="probe")
    return await positions.lock(cast(Any, Database()), first_records_of_a_life(), topics)


@pytest.mark.parametrize("answer", ["fails", "leaves_the_topic_out"])
async def test_records_below_the_position_wait_while_kafka_does_not_confirm_the_topic(
    monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    # Review (helper 122): the lookup's failure was logged and the records skipped, for good.
    async def topic_ids(*_: object) -> dict[str, uuid.UUID]:
        if answer == "fails":
            raise ConnectionError("the broker restarts")
        return {}

    monkeypatch.setattr(positions_module, "fetch_topic_ids", topic_ids)
    topics = TopicIdentity("localhost:1")
    topics._ids[TOPIC] = FIRST_LIFE  # known from before: the cache alone must not decide

    with pytest.raises(TransientError) as failure:
        await lock(topics)
    assert is_transient(failure.value)
    assert TOPIC in str(failure.value)


@pytest.mark.parametrize(("life", "next_offset"), [(FIRST_LIFE, 5000), (uuid.uuid4(), 0)])
async def test_once_confirmed_a_redelivery_is_skipped_and_a_new_life_read_from_its_start(
    monkeypatch: pytest.MonkeyPatch, life: uuid.UUID, next_offset: int
) -> None:
    async def topic_ids(*_: object) -> dict[str, uuid.UUID]:
        return {TOPIC: life}

    monkeypatch.setattr(positions_module, "fetch_topic_ids", topic_ids)

    assert await lock(TopicIdentity("localhost:1")) == {(TOPIC, 0): next_offset}

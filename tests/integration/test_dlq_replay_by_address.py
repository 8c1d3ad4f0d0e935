"""``orderflow-dlq replay`` names one dead letter by partition and offset, or by event id.

An offset is a position within one partition: the DLQ topics have three, so "offset 0" is
three different dead letters. Replaying must publish exactly the one named, and refuse a
request that could mean several.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from orderflow_chassis.dlq_cli import app
from orderflow_localinfra.discovery import Infrastructure
from typer.testing import CliRunner

from tests.support.kafka_tools import create_topics, end_offsets, unique_topic

pytestmark = pytest.mark.integration


def _value(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "event_type": "CartItemAdded"}).encode()


async def _dead_letters(kafka: str, origin: str, event_ids: list[str]) -> None:
    """One dead letter per partition of ``origin``.dlq, event_ids[p] in partition p: every one
    of them at offset 0 of its partition."""
    await create_topics(kafka, [origin, f"{origin}.dlq"])
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for partition, event_id in enumerate(event_ids):
            headers = [
                ("dlq.error_code", b"handler_failed"),
                ("dlq.original_topic", origin.encode()),
            ]
            await producer.send_and_wait(
                f"{origin}.dlq", _value(event_id), key=b"k", partition=partition, headers=headers
            )
    finally:
        await producer.stop()


def _replayed(kafka: str, origin: str) -> int:
    partitions = [TopicPartition(origin, p) for p in range(3)]
    return sum(asyncio.run(end_offsets(kafka, partitions)).values())


def _replay(kafka: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["replay", *args, "--bootstrap-servers", kafka])
    return result.exit_code, result.output


def test_an_offset_alone_is_ambiguous_and_partition_plus_offset_replays_exactly_one(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    origin = unique_topic("dlq-address")
    event_ids = [str(uuid.uuid4()) for _ in range(3)]
    asyncio.run(_dead_letters(kafka, origin, event_ids))

    code, output = _replay(kafka, f"{origin}.dlq", "--offset", "0")
    assert code == 2, output
    assert "--partition" in output
    assert _replayed(kafka, origin) == 0

    code, output = _replay(kafka, f"{origin}.dlq", "--partition", "1", "--offset", "0")
    assert code == 0, output
    assert "replayed 1 dead letter(s)" in output
    assert event_ids[1] in output
    assert _replayed(kafka, origin) == 1

    code, output = _replay(kafka, f"{origin}.dlq", "--partition", "1", "--offset", "7")
    assert code == 2, output
    assert "no dead letter in partition 1 at offset(s) 7" in output

    listed = CliRunner().invoke(app, ["list", f"{origin}.dlq", "--bootstrap-servers", kafka])
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert sorted((r["dlq_partition"], r["dlq_offset"], r["event_id"]) for r in rows) == [
        (p, 0, event_ids[p]) for p in range(3)
    ]


def test_an_event_id_names_its_dead_letter_unless_it_was_dead_lettered_twice(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    origin = unique_topic("dlq-event-id")
    once, twice = str(uuid.uuid4()), str(uuid.uuid4())
    asyncio.run(_dead_letters(kafka, origin, [once, twice, twice]))

    code, output = _replay(kafka, f"{origin}.dlq", "--event-id", once)
    assert code == 0, output
    assert "replayed 1 dead letter(s)" in output
    assert _replayed(kafka, origin) == 1

    code, output = _replay(kafka, f"{origin}.dlq", "--event-id", twice)
    assert code == 2, output
    assert "dead-lettered 2 times" in output
    assert "partition 1 offset 0" in output
    assert "partition 2 offset 0" in output
    assert _replayed(kafka, origin) == 1

"""The console's dead-letter reader never stalls on an offset commit: aiokafka retries a commit
for as long as the group coordinator is away, and the reader stored nothing more meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from orderflow_chassis.waiting import wait_at_most
from orderflow_ops.console import dead_letter_reader

TP = TopicPartition("orders.dlq", 0)


def _letter(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("orders.dlq", 0, offset, 0, 0, b"key", b"{}", None, 3, 2, [])


class CoordinatorAway:
    """A consumer with two batches of dead letters whose commits never answer."""

    def __init__(self) -> None:
        self.batches = [{TP: [_letter(0)]}, {TP: [_letter(1)]}]
        self.commits = 0

    async def start(self) -> None: ...

    def subscribe(self, _: Any) -> None: ...

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[Any]]:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(0.05)
        return {}

    async def commit(self) -> None:
        self.commits += 1
        await asyncio.Event().wait()  # retried while the coordinator is away


async def test_a_commit_that_never_answers_does_not_stop_the_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = CoordinatorAway()
    stored: list[int] = []

    async def store(_: Any, records: Any) -> None:
        stored.extend(record.offset for record in records)

    async def stop(_: Any) -> None: ...

    monkeypatch.setattr(dead_letter_reader, "kafka_client", lambda *_, **__: consumer)
    monkeypatch.setattr(dead_letter_reader, "_store", store)
    monkeypatch.setattr(dead_letter_reader, "stop_consumer", stop)
    monkeypatch.setattr(dead_letter_reader, "_COMMIT_S", 0.1)
    both_stored = asyncio.Event()

    def on_stored() -> None:
        if len(stored) == 2:
            both_stored.set()

    run = dead_letter_reader.read_dead_letters("kafka:9092", "", "console", on_stored=on_stored)

    reading = asyncio.create_task(run(cast(Any, None)))  # _store is replaced: no database
    try:
        await wait_at_most(5, both_stored.wait())  # the second batch waited for ever before
    finally:
        reading.cancel()
        await asyncio.wait([reading])
    assert stored == [0, 1]
    assert consumer.commits == 2

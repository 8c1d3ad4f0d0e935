"""The fuzz corpus: records drawn by hypothesis (derandomized: CI gets the same corpus every
run), then published in bulk. One broker round-trip per record would take hours at full size."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hostile.strategies import MAX_HUGE_BYTES, HostileRecord, families


def draw_examples(strategy: st.SearchStrategy[HostileRecord], count: int) -> list[HostileRecord]:
    """``count`` examples of ``strategy`` (fewer if hypothesis runs out of distinct ones)."""
    found: list[HostileRecord] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(record: HostileRecord) -> None:
        found.append(record)

    collect()
    return found[:count]


def hostile_records(topic: str, count: int, *, max_depth: int) -> list[HostileRecord]:
    """About ``count`` records for ``topic``, every family represented, shuffled (seeded)."""
    records: list[HostileRecord] = []
    for share, strategy in families(max_depth).values():
        records.extend(draw_examples(strategy(topic), max(1, round(share * count))))
    random.Random(topic).shuffle(records)
    return records


@dataclass(frozen=True)
class Published:
    record: HostileRecord
    topic: str  # with the run's prefix
    partition: int
    offset: int


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        max_request_size=MAX_HUGE_BYTES + 100_000,
        linger_ms=20,
    )


async def publish_all(
    producer: AIOKafkaProducer, prefix: str, records: Sequence[HostileRecord]
) -> list[Published]:
    """Send everything without waiting for each acknowledgement, then collect where each
    record landed (the dead letters name their original partition and offset)."""
    pending = []
    for record in records:
        pending.append(
            await producer.send(
                prefix + record.topic,
                record.value,
                key=record.key,
                headers=list(record.headers),
            )
        )
    landed = await asyncio.gather(*pending)
    return [
        Published(record, metadata.topic, metadata.partition, metadata.offset)
        for record, metadata in zip(records, landed, strict=True)
    ]

"""Every delivery guarantee of the chassis, pinned by a deterministic test.

A process is SIGKILLed (or a relay is handed a table in an adverse order) at the exact step a
guarantee protects, through the chassis' observation hooks, never by timing. Each test names
the guarantee it pins; the chassis README maps each guarantee to its test, and the one-line
change that makes the test fail.
"""

from __future__ import annotations

import asyncio
import signal
import uuid

import asyncpg
import pytest
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import (
    committed_offsets,
    create_topics,
    eventually,
    publish_raw,
)
from tests.support.probe_process import ProbeProcess, effect_counts
from tests.support.probe_service import CRASH_POINTS

pytestmark = pytest.mark.integration


def keyed(envelopes: list[Envelope]) -> list[tuple[bytes | None, bytes]]:
    return [(e.aggregate_id.encode(), e.to_bytes()) for e in envelopes]


async def caught_up(kafka: str, group: str, topic: str, end: dict[int, int]) -> dict[int, int]:
    """The committed offsets on ``topic`` of the probe's subscription ``group``, once they
    reach ``end`` (or the deadline)."""

    async def committed() -> dict[int, int]:
        offsets = await committed_offsets(kafka, f"orderflow.probe_a.{group}")
        return {tp.partition: o for tp, o in offsets.items() if tp.topic == topic}

    return await eventually(committed, lambda c: c == end, timeout_s=60)


@pytest.mark.parametrize("step", CRASH_POINTS)
async def test_a_consumer_killed_at_any_step_of_a_batch_applies_every_event_exactly_once(
    step: str, infrastructure: Infrastructure, probe_processes: dict[str, ProbeProcess]
) -> None:
    """Effects and offsets: the database commit comes first, the offset commit second, and a
    crash anywhere between the poll and the offset commit neither loses nor doubles an effect."""
    kafka = infrastructure.kafka_bootstrap_servers
    database_url = infrastructure.service_database_urls["probe_a"]
    topic = f"test.crash-{step.replace('_', '-')}.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    envelopes = [cart_item_added(f"cart-{i % 4}", sku=f"SKU-{i:03d}") for i in range(20)]
    await publish_raw(kafka, topic, keyed(envelopes))
    event_ids = [e.event_id for e in envelopes]
    probe, group = probe_processes["probe_a"], f"crash-{uuid.uuid4().hex[:8]}"

    probe.start("--in-topic", topic, "--group", group, crash_at=step)
    assert await asyncio.to_thread(probe.wait_for_exit) == -signal.SIGKILL, probe.log_text()
    before_restart = await effect_counts(database_url, "probe_a", event_ids)
    if step in ("after_poll", "before_commit"):
        assert before_restart == {}, "the batch's transaction never committed"
    else:
        assert set(before_restart.values()) == {1}, "the batch committed before the kill"

    probe.start("--in-topic", topic, "--group", group)
    counts = await eventually(
        lambda: effect_counts(database_url, "probe_a", event_ids),
        lambda c: len(c) == len(event_ids),
        timeout_s=60,
    )
    assert counts == dict.fromkeys(event_ids, 1), probe.log_text()
    assert await caught_up(kafka, group, topic, {0: len(envelopes)}) == {0: len(envelopes)}


async def test_a_poison_record_redelivered_after_a_crash_is_dead_lettered_once(
    infrastructure: Infrastructure, probe_processes: dict[str, ProbeProcess]
) -> None:
    """Consumer positions: records of a batch redelivered after a crash between the database
    and the offset commit are skipped by position, so a poison record (which never reaches the
    inbox) is not dead-lettered a second time."""
    kafka = infrastructure.kafka_bootstrap_servers
    database_url = infrastructure.service_database_urls["probe_a"]
    topic = f"test.poison-redelivery.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    before, after = cart_item_added("cart-p", sku="SKU-1"), cart_item_added("cart-p", sku="SKU-2")
    await publish_raw(kafka, topic, [*keyed([before]), (b"cart-p", b"{not json"), *keyed([after])])
    probe, group = probe_processes["probe_a"], f"poison-{uuid.uuid4().hex[:8]}"

    probe.start("--in-topic", topic, "--group", group, crash_at="after_commit")
    assert await asyncio.to_thread(probe.wait_for_exit) == -signal.SIGKILL, probe.log_text()
    assert await dead_letters_of(database_url, topic) == 1, "dead-lettered in the first life"

    probe.start("--in-topic", topic, "--group", group)
    assert await caught_up(kafka, group, topic, {0: 3}) == {0: 3}, probe.log_text()
    event_ids = [before.event_id, after.event_id]
    assert await effect_counts(database_url, "probe_a", event_ids) == dict.fromkeys(event_ids, 1)
    assert await dead_letters_of(database_url, topic) == 1, "the redelivered poison record"


async def dead_letters_of(database_url: str, topic: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM probe_a.outbox WHERE topic = $1", f"{topic}.dlq"
            )
        )
    finally:
        await connection.close()

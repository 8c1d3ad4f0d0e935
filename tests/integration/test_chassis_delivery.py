"""Delivery guarantees of the chassis, proven with a probe service on real Kafka and Postgres.

Kills use SIGKILL on real processes: no finally blocks, no graceful shutdown, exactly what a
machine failure looks like to the broker and the database.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import asyncpg
import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.outbox import Outbox
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import (
    create_topics,
    eventually,
    publish_raw,
    read_topic,
    unique_topic,
)
from tests.support.probe_process import ProbeProcess, effect_counts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def test_consumer_killed_after_db_commit_before_offset_commit_applies_each_event_once(
    infrastructure: Infrastructure, probe_processes: dict[str, ProbeProcess]
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    database_url = infrastructure.service_database_urls["probe_a"]
    topic = unique_topic("crash-consumer")
    await create_topics(kafka, [topic])
    envelopes = [cart_item_added(f"cart-{i % 4}", sku=f"SKU-{i:03d}") for i in range(40)]
    await publish_raw(kafka, topic, [(e.aggregate_id.encode(), e.to_bytes()) for e in envelopes])
    event_ids = [e.event_id for e in envelopes]
    probe = probe_processes["probe_a"]
    group = f"crash-{uuid.uuid4().hex[:8]}"

    probe.start("--in-topic", topic, "--group", group, crash="PROBE_CRASH_AFTER_DB_COMMIT")
    exit_code = await asyncio.to_thread(probe.wait_for_exit)
    assert exit_code == -signal.SIGKILL, probe.log_text()
    applied_before_restart = await effect_counts(database_url, "probe_a", event_ids)
    assert applied_before_restart, "the first batch should have committed before the kill"

    probe.start("--in-topic", topic, "--group", group)
    counts = await eventually(
        lambda: effect_counts(database_url, "probe_a", event_ids),
        lambda c: len(c) == len(event_ids),
        timeout_s=60,
    )

    assert counts == {event_id: 1 for event_id in event_ids}, probe.log_text()


async def test_relay_killed_after_publish_before_marking_sent_still_gives_one_effect(
    infrastructure: Infrastructure, probe_processes: dict[str, ProbeProcess]
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("crash-relay")
    await create_topics(kafka, [topic])
    producer_url = infrastructure.service_database_urls["probe_a"]
    consumer_url = infrastructure.service_database_urls["probe_b"]
    sender, receiver = probe_processes["probe_a"], probe_processes["probe_b"]

    # The sender's schema must exist before we write to its outbox: one clean start does it.
    sender.start()
    await eventually(lambda: _migrated(producer_url, "probe_a"), bool, timeout_s=60)
    sender.stop()

    envelopes = await _fill_outbox(producer_url, "probe_a", topic, count=30)
    sender.start(crash="PROBE_CRASH_AFTER_PUBLISH")
    assert await asyncio.to_thread(sender.wait_for_exit) == -signal.SIGKILL, sender.log_text()
    published = await read_topic(kafka, topic, expect=1, timeout_s=20)
    assert published, "the relay should have published before it was killed"
    assert await _unsent(producer_url, "probe_a") == 30, "nothing was stamped sent"

    sender.start()
    receiver.start("--in-topic", topic, "--group", f"relay-{uuid.uuid4().hex[:8]}")
    # In a worker's fresh database the receiver's tables exist once its first start made them.
    await eventually(lambda: _migrated(consumer_url, "probe_b"), bool, timeout_s=60)
    event_ids = [e.event_id for e in envelopes]
    counts = await eventually(
        lambda: effect_counts(consumer_url, "probe_b", event_ids),
        lambda c: len(c) == len(event_ids),
        timeout_s=60,
    )
    assert await eventually(lambda: _unsent(producer_url, "probe_a"), lambda n: n == 0) == 0

    records = await read_topic(kafka, topic, expect=60, timeout_s=10)
    assert len(records) > len(envelopes), "the crash should have caused re-publication"
    assert counts == {event_id: 1 for event_id in event_ids}, receiver.log_text()


async def _migrated(database_url: str, schema: str) -> bool:
    """Whether the probe's first start has made its schema's tables (its ``effects`` last)."""
    connection = await asyncpg.connect(database_url)
    try:
        return bool(
            await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.effects")
        )
    finally:
        await connection.close()


async def _unsent(database_url: str, schema: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(
            await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL")
        )
    finally:
        await connection.close()


async def _fill_outbox(database_url: str, schema: str, topic: str, *, count: int) -> list[Envelope]:
    outbox = Outbox(schema, producer=schema)
    connection = await connect(database_url, schema=schema)
    envelopes = []
    try:
        async with connection.transaction():
            for i in range(count):
                event = cart_item_added(f"cart-{i % 3}", sku=f"SKU-{i:03d}").parse_event()
                envelopes.append(
                    await outbox.add(connection, event, correlation_id=f"corr-{i}", topic=topic)
                )
    finally:
        await connection.close()
    return envelopes

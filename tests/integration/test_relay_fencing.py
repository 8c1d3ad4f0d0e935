"""The outbox relay is fenced: one publisher at a time, whatever happens to its session.

Two relays share one schema while writers keep emitting events of several aggregates, and the
leading relay's database session (the pid the relay exposes), then all its sessions (found by
the relay's application_name), are terminated again and again: what an idle timeout, a NAT drop
or a backend crash does. Kafka must show every
event, each aggregate in order, and publication must never alternate between the relays except
once per killed leader; no dead session goes back to its pool still holding a listener.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from orderflow_chassis.database import connect, create_pool
from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.outbox import Outbox, create_producer
from orderflow_chassis.relay import OutboxRelay
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, end_offsets, eventually, read_topic
from tests.support.probe_service import probe_definition, probe_settings
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration

SCHEMA = "probe_a"
AGGREGATES = 6
KILLS = 8
SESSION_KILLS = 5


@dataclass
class Publications:
    """Which relay published, round after round (the relay's after-publish hook)."""

    rounds: list[str] = field(default_factory=list)

    def hook(self, name: str) -> Any:
        async def record(rows: Sequence[object]) -> None:
            self.rounds.append(name)

        return record

    def switches(self) -> int:
        return sum(1 for a, b in zip(self.rounds, self.rounds[1:], strict=False) if a != b)


async def _unsent(connection: asyncpg.Connection, topic: str) -> int:
    return int(
        await connection.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.outbox WHERE topic = $1 AND sent_at IS NULL", topic
        )
    )


async def _write_events(
    database_url: str, topic: str, aggregates: list[str], stop: asyncio.Event, written: list[str]
) -> None:
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    connection = await connect(database_url, schema=SCHEMA)
    try:
        i = 0
        while not stop.is_set():
            event = cart_item_added(aggregates[i % len(aggregates)], sku=f"SKU-{i}").parse_event()
            async with connection.transaction():
                envelope = await outbox.add(connection, event, correlation_id="fence", topic=topic)
            written.append(str(envelope.event_id))
            i += 1
            await asyncio.sleep(0.005)
    finally:
        await connection.close()


async def _read_everything(kafka: str, topic: str) -> list[Envelope]:
    partitions = [TopicPartition(topic, p) for p in (await topic_partitions(kafka, [topic]))[topic]]
    total = sum((await end_offsets(kafka, partitions)).values())
    records = await read_topic(kafka, topic, expect=total, timeout_s=30)
    return [Envelope.from_bytes(record.value) for record in records]


async def test_two_relays_and_killed_leader_sessions_never_reorder_or_lose_an_aggregate(
    infrastructure: Infrastructure, recwarn: pytest.WarningsRecorder
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    database_url = infrastructure.service_database_urls[SCHEMA]
    topic = f"test.fencing.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic])
    setup = await connect(database_url, schema=SCHEMA)
    await migrate_service(
        setup, SCHEMA, probe_definition(SCHEMA, in_topics=[], group="x").migrations
    )

    run = uuid.uuid4().hex[:8]
    names = {"a": f"fence-{run}-a", "b": f"fence-{run}-b"}  # one application_name per relay
    publications = Publications()
    pools, producers, relays, tasks = [], [], {}, []
    for label, application_name in names.items():
        pool = await create_pool(database_url, schema=SCHEMA, application_name=application_name)
        producer = create_producer(kafka, client_id=application_name)
        await producer.start()
        relay = OutboxRelay(
            pool,
            producer,
            schema=SCHEMA,
            service=SCHEMA,
            batch_size=10,
            poll_interval_s=0.05,
            after_publish=publications.hook(label),
        )
        pools.append(pool)
        producers.append(producer)
        relays[label] = relay
        tasks.append(asyncio.create_task(relay.run()))

    aggregates = [f"fence-{run}-{k}" for k in range(AGGREGATES)]
    stop_writing = asyncio.Event()
    written: list[str] = []
    writers = [
        asyncio.create_task(_write_events(database_url, topic, aggregates, stop_writing, written))
        for _ in range(4)
    ]
    kills = 0
    try:
        for kill in range(KILLS):
            await asyncio.sleep(0.5)
            leaders = await eventually(
                lambda: _leaders(relays), lambda found: len(found) >= 1, timeout_s=10
            )
            assert leaders, "no relay leads"
            if kill < SESSION_KILLS:
                # What an idle timeout or a NAT drop does: the relay's own session dies.
                pid = await eventually(
                    partial(_session_pid, relays[leaders[0]]), bool, timeout_s=10
                )
                await setup.execute("SELECT pg_terminate_backend($1)", pid)
            else:
                # What a backend crash does: every session of the leader, mid-round included.
                await setup.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = $1",
                    names[leaders[0]],
                )
            kills += 1
        await asyncio.sleep(1.0)  # publication goes on after the last kill
        stop_writing.set()
        await asyncio.gather(*writers)
        remaining = await eventually(lambda: _unsent(setup, topic), lambda n: n == 0, timeout_s=30)
        assert remaining == 0, "every committed row is published and stamped"
    finally:
        stop_writing.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*writers, *tasks, return_exceptions=True)
        for producer in producers:
            await producer.stop()
        for pool in pools:
            await pool.close()
        await setup.close()

    envelopes = await _read_everything(kafka, topic)
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for envelope in envelopes:  # partition order; one aggregate lives in one partition
        if str(envelope.event_id) in seen:
            continue  # a re-publication: consumers drop it by event id
        seen.add(str(envelope.event_id))
        assert envelope.sequence is not None
        first_seen[envelope.aggregate_id].append(envelope.sequence)

    assert set(written) <= seen, "an event was lost"
    for aggregate, sequences in first_seen.items():
        assert sequences == list(range(1, len(sequences) + 1)), (aggregate, sequences)
    assert len(written) > 100, "the writers kept the relays busy"
    # One publisher at a time: the relays may swap only when a leader's session is killed.
    assert publications.switches() <= kills, (kills, publications.rounds)
    # A killed session goes back to its pool without the leader's LISTEN callback on it.
    stale = [str(w.message) for w in recwarn if "notification listener" in str(w.message)]
    assert stale == [], stale


async def _leaders(relays: dict[str, OutboxRelay]) -> list[str]:
    return [label for label, relay in relays.items() if relay.is_leader]


async def _session_pid(relay: OutboxRelay) -> int | None:
    """The backend pid of the relay's own session (where it listens and runs its rounds)."""
    return relay.session_pid


async def test_another_services_role_cannot_stop_this_services_relay(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    prefix = unique_prefix("lock-intruder")
    topic = f"{prefix}private"
    await create_topics(kafka, [topic])
    intruder = await asyncpg.connect(infrastructure.service_database_urls["probe_b"])
    try:
        # Everything another service's role can try: the relay's advisory-lock key of old...
        await intruder.execute("SELECT pg_advisory_lock(hashtext($1))", f"{SCHEMA}.relay")
        # ...and the lock row, which is out of its reach.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await intruder.execute(f"SELECT 1 FROM {SCHEMA}.relay_lock FOR UPDATE")

        runtime = ServiceRuntime(
            probe_definition(SCHEMA, in_topics=[], group="unused"),
            probe_settings(
                SCHEMA,
                database_url=infrastructure.service_database_urls[SCHEMA],
                kafka=kafka,
                topic_prefix=prefix,
                relay_poll_interval_s=0.1,
            ),
        )
        await runtime.start()
        try:
            envelope = cart_item_added(f"intruder-{uuid.uuid4().hex[:8]}", sku="SKU-1")
            async with runtime.pool.acquire() as connection, connection.transaction():
                await Outbox(SCHEMA, producer=SCHEMA).add(
                    connection, envelope.parse_event(), correlation_id="c", topic=topic
                )
            started = time.monotonic()
            published = await read_topic(kafka, topic, expect=1, timeout_s=15)
        finally:
            await runtime.stop()
    finally:
        await intruder.close()
    assert len(published) == 1, f"nothing published in {time.monotonic() - started:.0f}s"

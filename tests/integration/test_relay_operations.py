"""Operating the relay: topics made at start, parked rows, and a readiness that never says 500.

Each test runs the probe service in-process on a real broker and database, with its own topic
prefix.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_cli import service_cli
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.topics import ALL_TOPICS
from orderflow_localinfra.discovery import Infrastructure
from typer.testing import CliRunner

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, read_topic
from tests.support.probe_service import probe_definition, probe_settings
from tests.support.service_harness import unique_prefix
from tests.support.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.integration

SCHEMA = "probe_b"


@asynccontextmanager
async def probe_runtime(
    infrastructure: Infrastructure, *, in_topics: tuple[str, ...] = (), **settings: Any
) -> AsyncIterator[ServiceRuntime]:
    values: dict[str, Any] = {
        "database_url": infrastructure.service_database_urls[SCHEMA],
        "kafka": infrastructure.kafka_bootstrap_servers,
        "topic_prefix": unique_prefix("relay-ops"),
        "relay_poll_interval_s": 0.1,
    }
    values.update(settings)
    runtime = ServiceRuntime(
        probe_definition(SCHEMA, in_topics=list(in_topics), group=f"ops-{uuid.uuid4().hex[:8]}"),
        probe_settings(SCHEMA, **values),
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def get(runtime: ServiceRuntime, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as client:
        return await client.get(path, timeout=10)


async def test_every_topic_and_dead_letter_topic_exists_once_the_service_started(
    infrastructure: Infrastructure,
) -> None:
    async with probe_runtime(infrastructure, in_topics=("private-in",)) as runtime:
        prefix = runtime.settings.topic_prefix
        expected = [prefix + t for t in (*ALL_TOPICS, "private-in")]
        expected += [f"{name}.dlq" for name in expected]
        # Read at once, before anything was published: nothing relied on auto-creation.
        found = await topic_partitions(infrastructure.kafka_bootstrap_servers, expected)

    assert sorted(found) == sorted(expected)
    partitions = runtime.settings.kafka_topic_partitions
    assert all(len(numbers) == partitions for numbers in found.values()), found


async def test_readiness_answers_503_not_500_while_the_database_is_unreachable(
    infrastructure: Infrastructure,
) -> None:
    real = urlsplit(infrastructure.service_database_urls[SCHEMA])
    assert real.hostname is not None
    assert real.port is not None
    proxy = CuttableProxy(real.hostname, real.port)
    await proxy.start()
    credentials = real.netloc.rsplit("@", 1)[0]
    through_proxy = urlunsplit(real._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))

    async with probe_runtime(infrastructure, database_url=through_proxy) as runtime:
        before = await eventually(lambda: get(runtime, "/health/ready"), _status(200))
        await proxy.cut()
        during = await get(runtime, "/health/ready")
        await proxy.restore()
        after = await eventually(lambda: get(runtime, "/health/ready"), _status(200))
    await proxy.cut()

    assert before.status_code == 200, before.text
    assert during.status_code == 503, during.text
    assert during.json()["status"] == "unavailable"
    assert during.json()["checks"]["database"].startswith("unavailable"), during.text
    assert after.status_code == 200, after.text


async def test_readiness_fails_when_no_relay_could_lead_for_longer_than_the_bound(
    infrastructure: Infrastructure,
) -> None:
    async with probe_runtime(infrastructure, relay_unready_after_s=1.0) as runtime:
        ready = await eventually(lambda: get(runtime, "/health/ready"), _status(200))
        # A leader session that hangs while holding the lock: nobody can lead.
        stuck = await asyncpg.connect(infrastructure.service_database_urls[SCHEMA])
        try:
            async with stuck.transaction():
                await stuck.execute(f"SELECT 1 FROM {SCHEMA}.relay_lock FOR UPDATE")
                unready = await eventually(lambda: get(runtime, "/health/ready"), _status(503))
        finally:
            await stuck.close()
        recovered = await eventually(lambda: get(runtime, "/health/ready"), _status(200))

    assert ready.status_code == 200, ready.text
    assert unready.status_code == 503, unready.text
    assert unready.json()["checks"]["outbox_relay"].startswith("no relay has led"), unready.text
    assert recovered.status_code == 200, recovered.text


async def test_a_row_kafka_refuses_is_parked_and_the_rows_behind_it_flow(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    async with probe_runtime(infrastructure, relay_park_after_attempts=2) as runtime:
        topic = runtime.settings.topic("parking")
        await create_topics(kafka, [topic])
        key, other = f"park-{uuid.uuid4().hex[:8]}", f"flow-{uuid.uuid4().hex[:8]}"
        outbox = Outbox(SCHEMA, producer=SCHEMA)
        async with runtime.pool.acquire() as connection, connection.transaction():
            first = await _emit(outbox, connection, key, topic)
            too_large_id = await connection.fetchval(
                f"""INSERT INTO {SCHEMA}.outbox (event_id, topic, message_key, payload, event_type)
                VALUES ($1, $2, $3, $4, 'Oversized') RETURNING id""",
                uuid.uuid4(),
                topic,
                key,
                b"x" * (2 * 1024 * 1024),  # above the broker's message.max.bytes (~1 MiB)
            )
            behind = await _emit(outbox, connection, key, topic)
            elsewhere = await _emit(outbox, connection, other, topic)

        parked = await eventually(
            lambda: _outbox_row(runtime, too_large_id), lambda row: row["parked_at"] is not None
        )
        published = [Envelope.from_bytes(r.value) for r in await read_topic(kafka, topic, expect=3)]
        metrics_text = (await get(runtime, "/metrics")).text
        listed = await _cli(infrastructure, runtime, "outbox", "parked")
        retried = await _cli(infrastructure, runtime, "outbox", "retry", str(too_large_id))
        parked_again = await eventually(
            lambda: _outbox_row(runtime, too_large_id),
            lambda row: row["parked_at"] is not None and row["parked_at"] > parked["parked_at"],
        )

    assert parked["attempts"] == 2
    assert parked["last_error"].startswith("MessageSizeTooLargeError"), parked["last_error"]
    in_order = [e.event_id for e in published if e.aggregate_id == key]
    assert in_order == [first, behind], "the rows behind the parked one flow, in order"
    assert {e.event_id for e in published} == {first, behind, elsewhere}
    counted = re.search(
        rf'orderflow_outbox_parked_total\{{service="{SCHEMA}",topic="{re.escape(topic)}"\}} (\S+)',
        metrics_text,
    )
    assert counted is not None, metrics_text
    assert float(counted[1]) == 1.0
    rows = [json.loads(line) for line in listed.splitlines() if line.startswith("{")]
    mine = [row for row in rows if row["id"] == too_large_id]
    assert len(mine) == 1, listed
    assert mine[0]["error"].startswith("MessageSizeTooLargeError")
    assert mine[0]["topic"] == topic
    assert "1 parked row(s) un-parked" in retried
    assert parked_again["attempts"] == 2, "un-parked rows get fresh attempts"


def _status(code: int) -> Any:
    return lambda response: response.status_code == code


async def _emit(outbox: Outbox, connection: Any, key: str, topic: str) -> uuid.UUID:
    event = cart_item_added(key, sku="SKU-1").parse_event()
    envelope = await outbox.add(connection, event, correlation_id="park", topic=topic)
    return envelope.event_id


async def _outbox_row(runtime: ServiceRuntime, row_id: int) -> asyncpg.Record:
    row = await runtime.pool.fetchrow(
        f"SELECT attempts, last_error, parked_at FROM {SCHEMA}.outbox WHERE id = $1", row_id
    )
    assert row is not None
    return row


async def _cli(infrastructure: Infrastructure, runtime: ServiceRuntime, *args: str) -> str:
    """Run ``orderflow-probe_b ...`` as an operator would (in a thread: it runs its own loop)."""
    app = service_cli(SCHEMA, lambda settings: probe_definition(SCHEMA, in_topics=[], group="x"))
    env = {
        f"{SCHEMA.upper()}_DATABASE_URL": infrastructure.service_database_urls[SCHEMA],
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "LOG_LEVEL": "WARNING",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output

"""The raw limits of the Kafka and PostgreSQL a benchmark runs on: what they accept when
nothing but a tight client loop drives them. The pipeline's rate is reported as a share of
these, which tells how much of the hardware the services leave unused.

- Kafka, Python client: aiokafka with the services' own producer settings (idempotent,
  acks=all, linger 5 ms), 1 KB records, sends pipelined rather than awaited one by one.
- Kafka, Java client: the broker's ``ProducerPerformance`` tool (``kafka-tools`` jar of the
  local install, or ``kafka-producer-perf-test.sh`` on PATH) with the same record size and
  acks=all, when it is there.
- PostgreSQL: per event what a consumer writes (an inbox insert, a state upsert, an outbox
  insert), in transactions of a batch of events, in a scratch schema of the run's database.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
from orderflow_chassis.kafka_admin import ensure_topics
from orderflow_chassis.outbox import create_producer
from orderflow_contracts.uuids import uuid7
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.errors import InfraError
from orderflow_localinfra.java_runtime import find_java
from orderflow_localinfra.layout import StateLayout

RECORD_BYTES = 1024
PARTITIONS = 3
PERF_TOOL_CLASS = "org.apache.kafka.tools.ProducerPerformance"
PERF_TOOL_SCRIPT = "kafka-producer-perf-test.sh"
# "100000 records sent, 35842.3 records/sec (35.00 MB/sec), ..." (its last line is the total).
_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec")
SCRATCH_SCHEMA = "bench_scratch"
PAYLOAD = b"x" * 600  # about an envelope's size


@dataclass(frozen=True)
class Measured:
    per_second: float
    count: int
    seconds: float
    how: str  # what exactly was measured, for the report


async def kafka_python_limit(bootstrap_servers: str, topic: str, records: int) -> Measured:
    await ensure_topics(bootstrap_servers, [topic], partitions=PARTITIONS, replication_factor=1)
    producer = create_producer(bootstrap_servers, client_id="bench-raw-limit")
    await producer.start()
    value = os.urandom(RECORD_BYTES)
    try:
        await (await producer.send(topic, value, key=b"warm-up"))  # metadata, connections
        started = time.perf_counter()
        window = []
        for number in range(records):
            window.append(await producer.send(topic, value, key=str(number).encode()))
            if len(window) >= 2000:
                await asyncio.gather(*window)
                window.clear()
        await asyncio.gather(*window)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return Measured(
        records / seconds,
        records,
        seconds,
        f"aiokafka, {RECORD_BYTES} B records, acks=all, idempotent, linger 5 ms, pipelined",
    )


def perf_tool_command(layout: StateLayout | None = None) -> list[str] | None:
    """How to run Kafka's ProducerPerformance here, or None when it is not installed."""
    script = shutil.which(PERF_TOOL_SCRIPT)
    if script is not None:
        return [script]
    libs = (layout or StateLayout.discover()).kafka_libs
    if not any(libs.glob("kafka-tools-*.jar")):
        return None
    try:
        java = find_java()
    except InfraError:
        return None
    return [str(java), "-Xmx256m", "-cp", str(libs / "*"), PERF_TOOL_CLASS]


def parse_perf_tool_output(output: str) -> tuple[int, float] | None:
    """(records sent, records/s) of the tool's closing summary line."""
    found = _PERF_LINE.findall(output)
    if not found:
        return None
    sent, rate = found[-1]
    return int(sent), float(rate)


async def kafka_java_limit(
    bootstrap_servers: str, topic: str, records: int, command: Sequence[str]
) -> Measured | str:
    """The measurement, or why there is none."""
    await ensure_topics(bootstrap_servers, [topic], partitions=PARTITIONS, replication_factor=1)
    arguments = [
        *command,
        *("--topic", topic, "--num-records", str(records)),
        *("--record-size", str(RECORD_BYTES), "--throughput", "-1"),
        *("--producer-props", f"bootstrap.servers={bootstrap_servers}", "acks=all"),
    ]
    try:
        result = await asyncio.to_thread(
            subprocess.run, arguments, capture_output=True, text=True, check=False, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the perf tool did not run: {error}"
    parsed = parse_perf_tool_output(result.stdout)
    if result.returncode != 0 or parsed is None:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"the perf tool failed (exit {result.returncode}): {last[0][:200]}"
    sent, rate = parsed
    return Measured(
        rate,
        sent,
        sent / rate if rate else 0.0,
        f"Kafka's ProducerPerformance (Java client), {RECORD_BYTES} B records, acks=all, "
        "its other settings the client's defaults",
    )


_SCRATCH_TABLES = f"""
DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE;
CREATE SCHEMA {SCRATCH_SCHEMA};
CREATE TABLE {SCRATCH_SCHEMA}.inbox (
    consumer text NOT NULL, event_id uuid NOT NULL, event_type text NOT NULL,
    topic text NOT NULL, kafka_partition integer NOT NULL, kafka_offset bigint NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));
CREATE TABLE {SCRATCH_SCHEMA}.state (
    aggregate_id text PRIMARY KEY, version bigint NOT NULL, body jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {SCRATCH_SCHEMA}.outbox (
    id bigserial PRIMARY KEY, event_id uuid NOT NULL, topic text NOT NULL,
    message_key text NOT NULL, payload bytea NOT NULL, headers jsonb NOT NULL DEFAULT '[]',
    event_type text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz);
CREATE INDEX outbox_pending ON {SCRATCH_SCHEMA}.outbox (id) WHERE sent_at IS NULL;
"""
_INBOX = (
    f"INSERT INTO {SCRATCH_SCHEMA}.inbox (consumer, event_id, event_type, topic, "
    "kafka_partition, kafka_offset) VALUES ($1, $2, 'Bench', 'bench', 0, $3)"
)
_STATE = (
    f"INSERT INTO {SCRATCH_SCHEMA}.state AS s (aggregate_id, version, body) "
    "VALUES ($1, 1, $2::jsonb) ON CONFLICT (aggregate_id) "
    "DO UPDATE SET version = s.version + 1, body = excluded.body, updated_at = now()"
)
_OUTBOX = (
    f"INSERT INTO {SCRATCH_SCHEMA}.outbox (event_id, topic, message_key, payload, event_type) "
    "VALUES ($1, 'bench', $2, $3, 'Bench')"
)


async def postgres_limit(
    database_url: str, *, seconds: float, batch: int, connections: int
) -> Measured:
    """Events/s written by ``connections`` clients at once, each committing ``batch`` events
    per transaction, for about ``seconds``."""
    setup = await asyncpg.connect(database_url)
    try:
        await setup.execute(_SCRATCH_TABLES)
    finally:
        await setup.close()
    written = [0] * connections

    async def writer(index: int, deadline: float) -> None:
        connection = await asyncpg.connect(database_url)
        offset = 0
        try:
            while time.perf_counter() < deadline:
                ids = [uuid7() for _ in range(batch)]  # as the services make them
                # About three events per aggregate: some upserts insert, the rest update.
                keys = [f"agg-{index}-{(offset + n) // 3}" for n in range(batch)]
                async with connection.transaction():
                    await connection.executemany(
                        _INBOX, [(f"c{index}", i, offset + n) for n, i in enumerate(ids)]
                    )
                    await connection.executemany(
                        _STATE, [(key, '{"status": "placed"}') for key in keys]
                    )
                    await connection.executemany(
                        _OUTBOX, [(i, key, PAYLOAD) for i, key in zip(ids, keys, strict=True)]
                    )
                offset += batch
                written[index] += batch
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(writer(i, started + seconds) for i in range(connections)))
    elapsed = time.perf_counter() - started
    cleanup = await asyncpg.connect(database_url)
    try:
        await cleanup.execute(f"DROP SCHEMA {SCRATCH_SCHEMA} CASCADE")
    finally:
        await cleanup.close()
    total = sum(written)
    return Measured(
        total / elapsed,
        total,
        elapsed,
        f"inbox insert + state upsert + outbox insert per event, {batch} events per "
        f"transaction, {connections} connection(s)",
    )


POSTGRES_BATCH = 100
# One connection: a consumer's shape. Four: the four services writing at once.
POSTGRES_CONNECTIONS = (1, 4)


async def measure_raw_limits(
    infrastructure: Infrastructure,
    topic_prefix: str,
    *,
    kafka_records: int,
    java_records: int,
    postgres_seconds: float,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """Every raw limit, by name: its figures, or why it could not be measured."""
    bootstrap = infrastructure.kafka_bootstrap_servers
    limits: dict[str, Any] = {}
    report("raw limits: Kafka producer (aiokafka) ...")
    python = await kafka_python_limit(bootstrap, f"{topic_prefix}bench.raw.python", kafka_records)
    limits["kafka_aiokafka"] = asdict(python)
    command = perf_tool_command()
    if command is None:
        limits["kafka_java"] = {"unavailable": "Kafka's ProducerPerformance is not installed"}
    else:
        report("raw limits: Kafka producer (Java ProducerPerformance) ...")
        java = await kafka_java_limit(
            bootstrap, f"{topic_prefix}bench.raw.java", java_records, command
        )
        limits["kafka_java"] = asdict(java) if isinstance(java, Measured) else {"unavailable": java}
    for connections in POSTGRES_CONNECTIONS:
        report(f"raw limits: PostgreSQL consumer-shaped writes, {connections} connection(s) ...")
        measured = await postgres_limit(
            infrastructure.admin_database_url,
            seconds=postgres_seconds,
            batch=POSTGRES_BATCH,
            connections=connections,
        )
        limits[f"postgres_{connections}_connection{'s' if connections > 1 else ''}"] = asdict(
            measured
        )
    for name, figures in limits.items():
        if "per_second" in figures:
            report(f"  {name}: {figures['per_second']:,.0f}/s")
        else:
            report(f"  {name}: not measured ({figures['unavailable']})")
    return limits

"""Run a service in-process against the real broker and database, isolated by a topic prefix.

Every test module (or test) takes its own prefix, so it sees only its own messages on a broker
that other runs share, and its consumer groups start from an empty history.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.runtime import RuntimeHooks, ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.kafka_tools import end_offsets, eventually, publish_raw, read_topic


def unique_prefix(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex[:8]}."


def service_settings(
    infrastructure: Infrastructure, service: str, *, topic_prefix: str, **overrides: Any
) -> ServiceSettings:
    """Settings as the service would read them, pointed at the test infrastructure."""
    values: dict[str, Any] = {
        "service_name": service,
        "database_url": infrastructure.service_database_urls[service],
        "kafka_bootstrap_servers": infrastructure.kafka_bootstrap_servers,
        "topic_prefix": topic_prefix,
        "consumer_batch_timeout_ms": 50,
        "relay_poll_interval_s": 0.2,
    }
    values.update(overrides)
    return ServiceSettings(**values)


@asynccontextmanager
async def running_service(
    definition: ServiceDefinition, settings: ServiceSettings, hooks: RuntimeHooks | None = None
) -> AsyncIterator[ServiceRuntime]:
    runtime = ServiceRuntime(definition, settings, hooks=hooks)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def publish_envelopes(
    infrastructure: Infrastructure, topic_prefix: str, envelopes: Sequence[Envelope]
) -> None:
    """Publish as an upstream producer would: to the event's topic, keyed by aggregate id."""
    for envelope in envelopes:
        topic = topic_prefix + type(envelope.parse_event()).topic
        await publish_raw(
            infrastructure.kafka_bootstrap_servers,
            topic,
            [(envelope.aggregate_id.encode(), envelope.to_bytes())],
        )


async def read_envelopes(
    infrastructure: Infrastructure,
    topic_prefix: str,
    topic: str,
    *,
    expect: int,
    timeout_s: float = 30.0,
) -> list[Envelope]:
    """Every envelope on ``topic`` (contract name) so far, in partition order."""
    records: list[ConsumerRecord] = await read_topic(
        infrastructure.kafka_bootstrap_servers,
        topic_prefix + topic,
        expect=expect,
        timeout_s=timeout_s,
    )
    return [Envelope.from_bytes(record.value) for record in records]


async def caught_up(runtime: ServiceRuntime, *, timeout_s: float = 30.0) -> None:
    """Wait until every consumer of ``runtime`` applied everything on its topics so far.

    Compares Kafka's end offsets with the consumer positions the chassis commits with the
    effects: afterwards, "nothing more happened" is a fact, not a guess.
    """
    bootstrap = runtime.settings.kafka_bootstrap_servers
    targets: dict[tuple[str, str, int], int] = {}
    for event_consumer in runtime.consumers:
        names = [runtime.settings.topic(topic) for topic in event_consumer.subscription.topics]
        partitions = [
            TopicPartition(name, number)
            for name, numbers in (await topic_partitions(bootstrap, names)).items()
            for number in numbers
        ]
        for tp, end in (await end_offsets(bootstrap, partitions)).items():
            if end:
                targets[(event_consumer.group_id, tp.topic, tp.partition)] = end

    async def positions() -> dict[tuple[str, str, int], int]:
        rows = await runtime.pool.fetch(
            "SELECT consumer, topic, kafka_partition, next_offset FROM consumer_positions"
        )
        return {(r["consumer"], r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}

    def done(found: dict[tuple[str, str, int], int]) -> bool:
        return all(found.get(key, 0) >= end for key, end in targets.items())

    final = await eventually(positions, done, timeout_s=timeout_s)
    assert done(final), f"consumers still behind: {targets} vs {final}"


def run_service_command(
    service: str, environment: Mapping[str, str], *, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """``orderflow-<service> run`` as an operator starts it, with exactly ``environment``; for
    tests of a start that must stop by itself. Prints how long it took (for the report)."""
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", f"orderflow_{service}", "run"],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    print(f"exited {result.returncode} after {time.monotonic() - began:.2f} s")
    return result

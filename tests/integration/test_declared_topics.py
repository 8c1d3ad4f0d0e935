"""The declared topics on a real broker: apply creates them as declared, idempotently, reports
drift it does not change, and a service that may not create topics names the missing ones.

Each test works under its own topic prefix and deletes its topics at the end. The shared broker
has auto-creation ON, which is exactly why the missing-topics test also checks that nothing was
created behind the service's back: describing a topic by name would have created it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_topics import (
    MissingTopicsError,
    UnderReplicatedTopicsError,
    ensure_service_topics,
)
from orderflow_chassis.topic_catalog import load_topic_catalog
from orderflow_chassis.topic_provisioning import live_topics
from orderflow_chassis.topics_cli import app as topics_app
from orderflow_chassis.topics_cli import apply_declared_topics
from orderflow_localinfra.discovery import Infrastructure
from typer.testing import CliRunner

from tests.support.kafka_tools import create_topics, eventually
from tests.support.probe_service import probe_definition, probe_settings
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration

CATALOG = load_topic_catalog()


@pytest.fixture
async def prefix(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A fresh prefix; every topic under it is deleted afterwards (ours only)."""
    own = unique_prefix("declared-topics")
    yield own
    admin = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka_bootstrap_servers)
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(own)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def test_apply_creates_every_declared_topic_with_its_configs_and_is_idempotent(
    infrastructure: Infrastructure, prefix: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers

    first = await apply_declared_topics(CATALOG, kafka, prefix=prefix, partitions_override=2)
    second = await apply_declared_topics(CATALOG, kafka, prefix=prefix, partitions_override=2)

    async with _admin(kafka) as admin:
        live = await live_topics(admin, [prefix + name for name in CATALOG.names])
    assert sorted(first.created) == sorted(prefix + name for name in CATALOG.names)
    assert sorted(live) == sorted(first.created)
    for topic in CATALOG:
        found = live[prefix + topic.name]
        assert found.partitions == 2, found
        assert found.replication_factor == min(topic.replication_factor, first.brokers)
        assert found.configs["retention.ms"] == str(topic.retention_ms), found
        assert found.configs["cleanup.policy"] == topic.cleanup_policy, found
    # Dead letters are kept longer than events (see deploy/topics.yaml): the override landed.
    assert (
        live[prefix + "orders.dlq"].configs["retention.ms"]
        != live[prefix + "orders"].configs["retention.ms"]
    )
    assert second.created == []
    assert second.plan.drift == []
    assert sorted(second.plan.up_to_date) == sorted(first.created)


async def test_apply_reports_a_topic_with_fewer_partitions_as_drift_and_leaves_it(
    infrastructure: Infrastructure, prefix: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    await _create_and_wait(kafka, [prefix + "orders"], partitions=1)

    report = await apply_declared_topics(CATALOG, kafka, prefix=prefix, partitions_override=3)

    async with _admin(kafka) as admin:
        orders = (await live_topics(admin, [prefix + "orders"]))[prefix + "orders"]
    assert orders.partitions == 1  # reported, never changed
    partition_drift = [d for d in report.plan.drift if d.setting == "partitions"]
    assert [(d.topic, d.actual, d.declared) for d in partition_drift] == [
        (prefix + "orders", "1", "3")
    ]
    assert "moves keys" in partition_drift[0].describe()
    assert prefix + "orders" not in report.created
    assert len(report.created) == len(CATALOG.names) - 1


def test_the_command_exits_1_on_drift_only_when_asked_and_a_dry_run_creates_nothing(
    infrastructure: Infrastructure, prefix: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    common = ["apply", "--bootstrap-servers", kafka, "--prefix", prefix, "--partitions", "1"]
    runner = CliRunner()

    dry = runner.invoke(topics_app, [*common, "--dry-run"])
    created = runner.invoke(topics_app, common)
    again = runner.invoke(topics_app, [*common, "--fail-on-drift"])
    drifted = runner.invoke(topics_app, [*common[:-2], "--partitions", "2", "--fail-on-drift"])
    tolerated = runner.invoke(topics_app, [*common[:-2], "--partitions", "2"])

    assert dry.exit_code == 0, dry.output
    assert f"would create: {prefix}orders (1 partitions" in dry.output
    assert "16 would create, 0 up to date, 0 drifted" in dry.output
    assert created.exit_code == 0, created.output
    assert "16 created, 0 up to date, 0 drifted" in created.output  # the dry run made none
    assert again.exit_code == 0, again.output
    assert "0 created, 16 up to date, 0 drifted" in again.output
    assert drifted.exit_code == 1, drifted.output
    assert f"  {prefix}orders: partitions is 1 on the broker, declared 2" in drifted.output
    assert tolerated.exit_code == 0, tolerated.output


async def test_a_service_that_may_not_create_topics_refuses_to_start_listing_the_missing(
    infrastructure: Infrastructure, prefix: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    # Some topics exist (as if applied before a topic was added to the file), the rest do not.
    await _create_and_wait(kafka, [prefix + "orders", prefix + "payments"])
    runtime = ServiceRuntime(
        probe_definition("probe_a", in_topics=[], group=f"g-{uuid.uuid4().hex[:6]}"),
        probe_settings(
            "probe_a",
            database_url=infrastructure.service_database_urls["probe_a"],
            kafka=kafka,
            topic_prefix=prefix,
            kafka_create_topics=False,  # what production does; the broker's auto-create is on
        ),
    )

    with pytest.raises(MissingTopicsError) as refused:
        await runtime.start()
    await runtime.stop()

    expected_missing = sorted(
        prefix + name for name in CATALOG.names if name not in ("orders", "payments")
    )
    assert refused.value.missing == expected_missing
    message = str(refused.value)
    assert all(f"  - {name}\n" in message for name in expected_missing), message
    assert "orderflow-topics apply" in message
    # The check created nothing, not even through the broker's auto-creation. A topic created
    # afterwards is a barrier: the broker's metadata is one ordered log, so once the barrier is
    # listed, any topic auto-created before it would be listed too.
    await _create_and_wait(kafka, [prefix + "barrier"])
    async with _admin(kafka) as admin:
        still_there = [n for n in await admin.list_topics() if n.startswith(prefix)]
    assert sorted(still_there) == [prefix + "barrier", prefix + "orders", prefix + "payments"]


async def test_a_production_service_refuses_topics_with_fewer_than_three_replicas(
    infrastructure: Infrastructure, prefix: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    names = [prefix + "orders", prefix + "orders.dlq"]
    await _create_and_wait(kafka, names)  # one broker: one replica each

    with pytest.raises(UnderReplicatedTopicsError) as refused:
        await ensure_service_topics(
            service="probe_a",
            bootstrap_servers=kafka,
            names=names,
            topic_prefix=prefix,
            catalog=CATALOG,
            create_missing=False,
            development_partitions=3,
            minimum_replication=3,
        )

    assert refused.value.weak == {name: 1 for name in names}
    message = str(refused.value)
    assert "2 topic(s) it uses have fewer than 3 replicas on the broker" in message
    assert f"  - {prefix}orders: 1\n" in message


async def test_a_development_service_creates_its_missing_topics_as_declared(
    infrastructure: Infrastructure, prefix: str
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    runtime = ServiceRuntime(
        probe_definition("probe_a", in_topics=[], group=f"g-{uuid.uuid4().hex[:6]}"),
        probe_settings(
            "probe_a",
            database_url=infrastructure.service_database_urls["probe_a"],
            kafka=kafka,
            topic_prefix=prefix,
            kafka_topic_partitions=2,
        ),
    )
    await runtime.start()
    await runtime.stop()

    async with _admin(kafka) as admin:
        live = await live_topics(admin, [prefix + name for name in CATALOG.names])
    assert sorted(live) == sorted(prefix + name for name in CATALOG.names)
    assert {topic.partitions for topic in live.values()} == {2}
    dead_letters = CATALOG.declared["orders.dlq"]
    assert live[prefix + "orders.dlq"].configs["retention.ms"] == str(dead_letters.retention_ms)


@asynccontextmanager
async def _admin(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def _create_and_wait(kafka: str, names: list[str], partitions: int = 3) -> None:
    """Create topics and wait until the broker lists them (creation is acknowledged before
    every broker's metadata shows the topic)."""
    await create_topics(kafka, names, partitions=partitions)

    async def listed() -> set[str]:
        async with _admin(kafka) as admin:
            return set(await admin.list_topics())

    found = await eventually(listed, lambda topics: set(names) <= topics, timeout_s=60)
    assert set(names) <= found

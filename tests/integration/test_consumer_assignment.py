"""Instances of a service split its topics by partition number: every topic's partition n goes
to the same instance, so the events of one order (keyed by order id on every topic) are applied
by one instance instead of two waiting on each other's per-order locks (decision 75)."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from orderflow_chassis.kafka_access import KafkaAccessError
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.waiting import wait_at_most
from orderflow_localinfra.discovery import Infrastructure

from tests.support.fleet import seconds_until_group_has
from tests.support.kafka_tools import create_topics, eventually, unique_topic
from tests.support.probe_service import probe_definition, probe_settings

pytestmark = pytest.mark.integration

Assignment = dict[str, frozenset[int]]  # topic -> partitions, one member's


async def assignments(bootstrap: str, group: str) -> list[Assignment]:
    """What the group's coordinator handed each member, as the members received it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    members = response.groups[0][5]
    decoded = [ConsumerProtocolMemberAssignment.decode(member[4]) for member in members]
    return [
        {topic: frozenset(partitions) for topic, partitions in member.assignment}
        for member in decoded
    ]


async def test_each_instance_gets_the_same_partition_numbers_of_every_topic(
    infrastructure: Infrastructure,
) -> None:
    bootstrap = infrastructure.kafka_bootstrap_servers
    topics = [unique_topic("orders"), unique_topic("payments"), unique_topic("returns")]
    await create_topics(bootstrap, topics, partitions=4)  # not a multiple of the instances
    definition = probe_definition("probe_a", in_topics=topics, group=uuid.uuid4().hex[:8])
    settings = probe_settings(
        "probe_a", database_url=infrastructure.service_database_urls["probe_a"], kafka=bootstrap
    )
    async with AsyncExitStack() as stack:
        instances = []
        for _ in range(3):
            runtime = ServiceRuntime(definition, settings)
            stack.push_async_callback(wait_at_most, 60, runtime.stop())
            await wait_at_most(60, runtime.start())
            instances.append(runtime)
        [group] = [consumer.group_id for consumer in instances[0].consumers]
        await seconds_until_group_has(bootstrap, group, members=3)

        members = await assignments(bootstrap, group)

    # Round-robin deals the 12 topic-partitions out in turn: partition 0 of the first topic to
    # one instance, of the second topic to another.
    assert len(members) == 3
    for member in members:
        assert set(member) == set(topics)
        assert len({member[topic] for topic in topics}) == 1, member
    every_partition = sorted(p for member in members for p in member[topics[0]])
    assert every_partition == list(range(4))


async def test_an_instance_cannot_join_a_group_of_round_robin_members_and_says_why(
    infrastructure: Infrastructure,
) -> None:
    """Kafka lets a group agree on one assignor only: an instance of this version meeting
    running instances of an older one fails its start with what to do, not an endless join."""
    bootstrap = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("upgrade")
    await create_topics(bootstrap, [topic])
    definition = probe_definition("probe_a", in_topics=[topic], group=uuid.uuid4().hex[:8])
    settings = probe_settings(
        "probe_a", database_url=infrastructure.service_database_urls["probe_a"], kafka=bootstrap
    )
    [subscription] = definition.subscriptions
    group = f"{settings.consumer_group}.{subscription.name}"
    older = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group)  # round-robin
    await older.start()
    try:
        assert await eventually(lambda: _assigned(older), bool)
        runtime = ServiceRuntime(definition, settings)
        try:
            with pytest.raises(KafkaAccessError, match="stop every instance of probe_a"):
                await wait_at_most(60, runtime.start())
        finally:
            await wait_at_most(60, runtime.stop())
    finally:
        await older.stop()


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=100)
    return bool(consumer.assignment())

"""Events from a producer that uses Kafka transactions (a storefront may): what it aborted is
never applied, what it committed is, in order."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import applied, started_probe
from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, unique_topic

pytestmark = pytest.mark.integration


class GaveUp(Exception):
    pass


async def test_aborted_events_are_never_applied_and_committed_ones_are(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("transactional")
    await create_topics(kafka, [topic], partitions=1)
    aborted = cart_item_added("cart-aborted", sku="SKU-001")
    committed = cart_item_added("cart-committed", sku="SKU-001")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka,
        transactional_id=f"storefront-{uuid.uuid4().hex}",
        **kafka_client_options(),
    )
    await producer.start()
    with contextlib.suppress(GaveUp):
        async with producer.transaction():
            await producer.send_and_wait(topic, aborted.to_bytes(), key=aborted.key)
            raise GaveUp  # the storefront gives up: Kafka aborts the transaction
    runtime = await started_probe(infrastructure, "probe_a", topic, f"txn-{uuid.uuid4().hex}")
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, committed.to_bytes(), key=committed.key)
        ids = [aborted.event_id, committed.event_id]
        done = await eventually(lambda: applied(runtime, ids), lambda got: bool(got))
        await asyncio.sleep(1)  # an aborted record would be applied with the committed one
        assert await applied(runtime, ids) == {committed.event_id}, done
    finally:
        await producer.stop()
        await runtime.stop()

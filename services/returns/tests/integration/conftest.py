"""One returns service per test module (its own topic prefix, so its own topics and consumer
groups), on the real Kafka and PostgreSQL; every test uses fresh order ids, so tests never see
each other's facts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from orderflow_chassis.clock import SettableClock
from orderflow_contracts import topics
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.bootstrap import build_definition
from orderflow_returns.settings import ReturnsSettings

from services.returns.tests.integration.returns_support import START, SUBSCRIBED, ReturnsHarness
from tests.support.kafka_tools import create_topics
from tests.support.service_harness import running_service, service_settings, unique_prefix


@pytest.fixture(scope="module")
def returns_settings() -> ReturnsSettings:
    """Rejections the module waits for come at once (a module about held requests overrides
    this with a wait)."""
    return ReturnsSettings(delivery_wait_s=0)


@pytest.fixture(scope="module")
async def returns_harness(
    orderflow_infrastructure: Infrastructure, returns_settings: ReturnsSettings
) -> AsyncIterator[ReturnsHarness]:
    prefix = unique_prefix("returns")
    kafka = orderflow_infrastructure.kafka_bootstrap_servers
    await create_topics(kafka, [prefix + topic for topic in (*SUBSCRIBED, topics.RETURNS)])
    clock = SettableClock(START)
    settings = service_settings(orderflow_infrastructure, "returns", topic_prefix=prefix)
    definition = build_definition(settings, clock=clock, returns_settings=returns_settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        async with running_service(definition, settings) as runtime:
            yield ReturnsHarness(orderflow_infrastructure, prefix, clock, runtime, producer)
    finally:
        await producer.stop()

"""A fulfillment service running in-process against the real Kafka and PostgreSQL, per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from orderflow_chassis.clock import SettableClock
from orderflow_contracts import topics
from orderflow_fulfillment.bootstrap import build_definition
from orderflow_fulfillment.settings import FulfillmentSettings
from orderflow_localinfra.discovery import Infrastructure

from services.fulfillment.tests.integration.flow import Flow, Watcher, create_service_topics
from tests.support.service_harness import running_service, service_settings, unique_prefix

RESERVATION_TTL_S = 600.0


def fast_settings(**overrides: object) -> FulfillmentSettings:
    values: dict[str, object] = {
        "seed_file": "",  # tests bring their own warehouses and SKUs
        "reservation_ttl_s": RESERVATION_TTL_S,
        "expiry_check_interval_s": 0.2,
        "backorder_retry_interval_s": 0.3,
    }
    values.update(overrides)
    return FulfillmentSettings.model_validate(values)


@pytest_asyncio.fixture(scope="module")
async def flow(orderflow_infrastructure: Infrastructure) -> AsyncIterator[Flow]:
    prefix = unique_prefix("fulfillment")
    await create_service_topics(orderflow_infrastructure, prefix)
    settings = service_settings(orderflow_infrastructure, "fulfillment", topic_prefix=prefix)
    clock = SettableClock()
    watcher = Watcher(
        orderflow_infrastructure.kafka_bootstrap_servers,
        prefix,
        [topics.FULFILLMENT, topics.ORDERS],
    )
    await watcher.start()
    try:
        definition = build_definition(settings, clock=clock, fulfillment=fast_settings())
        async with running_service(definition, settings) as runtime:
            yield Flow(orderflow_infrastructure, prefix, runtime, clock, watcher)
    finally:
        await watcher.stop()

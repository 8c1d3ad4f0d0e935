"""The consumers' session timeout is the service's setting, and a broker refusing it stops the
service at start with a message naming the setting (never a consumer that silently never
joins); a start Kafka never finishes fails too, naming what did not answer (decision 70)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from orderflow_chassis import consumer_wiring
from orderflow_chassis import runtime as runtime_module
from orderflow_chassis.consumer_wiring import kafka_broker
from orderflow_chassis.kafka_access import KafkaAccessError
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.waiting import wait_at_most
from orderflow_localinfra.discovery import Infrastructure

from tests.support.kafka_tools import create_topics, unique_topic
from tests.support.probe_service import probe_definition, probe_settings

pytestmark = pytest.mark.integration


async def _probe_on_a_new_topic(
    infrastructure: Infrastructure, group: str, **settings: Any
) -> ServiceRuntime:
    topic = unique_topic("sessions")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic])
    return ServiceRuntime(
        probe_definition("probe_a", in_topics=[topic], group=group),
        probe_settings(
            "probe_a",
            database_url=infrastructure.service_database_urls["probe_a"],
            kafka=infrastructure.kafka_bootstrap_servers,
            **settings,
        ),
    )


async def test_a_session_the_broker_refuses_fails_the_start_naming_the_setting(
    infrastructure: Infrastructure,
) -> None:
    runtime = await _probe_on_a_new_topic(
        infrastructure,
        "g",
        # Below any broker's group.min.session.timeout.ms (1000 locally, 6000 by default).
        consumer_session_timeout_ms=900,
        consumer_heartbeat_interval_ms=300,
    )
    try:
        with pytest.raises(RuntimeError, match="PROBE_A_CONSUMER_SESSION_TIMEOUT_MS"):
            await wait_at_most(60, runtime.start())
    finally:
        await wait_at_most(60, runtime.stop())


async def test_consumers_that_never_join_fail_the_start_instead_of_holding_it(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_whose_start_never_ends(*args: object, **kwargs: object) -> object:
        broker = kafka_broker(*args, **kwargs)  # type: ignore[arg-type]

        async def join_held_for_ever() -> None:  # a producer id or a join Kafka never gives
            await asyncio.Event().wait()

        broker.start = join_held_for_ever  # type: ignore[method-assign]
        return broker

    monkeypatch.setattr(runtime_module, "kafka_broker", broker_whose_start_never_ends)
    monkeypatch.setattr(consumer_wiring, "consumers_join_within_s", lambda _: 1.0)
    runtime = await _probe_on_a_new_topic(infrastructure, "j")
    try:
        with pytest.raises(KafkaAccessError, match="did not join their groups within 1 s"):
            await wait_at_most(60, runtime.start())  # it waited for ever
    finally:
        await wait_at_most(60, runtime.stop())

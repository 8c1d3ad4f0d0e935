"""The consumers' session timeout is the service's setting, and a broker refusing it stops the
service at start with a message naming the setting (never a consumer that silently never
joins)."""

from __future__ import annotations

import pytest
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.waiting import wait_at_most
from orderflow_localinfra.discovery import Infrastructure

from tests.support.kafka_tools import create_topics, unique_topic
from tests.support.probe_service import probe_definition, probe_settings

pytestmark = pytest.mark.integration


async def test_a_session_the_broker_refuses_fails_the_start_naming_the_setting(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("sessions")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic])
    settings = probe_settings(
        "probe_a",
        database_url=infrastructure.service_database_urls["probe_a"],
        kafka=infrastructure.kafka_bootstrap_servers,
        # Below any broker's group.min.session.timeout.ms (1000 locally, 6000 by default).
        consumer_session_timeout_ms=900,
        consumer_heartbeat_interval_ms=300,
    )
    runtime = ServiceRuntime(probe_definition("probe_a", in_topics=[topic], group="g"), settings)
    try:
        with pytest.raises(RuntimeError, match="PROBE_A_CONSUMER_SESSION_TIMEOUT_MS"):
            await wait_at_most(60, runtime.start())
    finally:
        await wait_at_most(60, runtime.stop())

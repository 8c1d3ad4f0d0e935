"""A running service's HTTP server caps its open connections: clients that hold connections
open (idle, or trickling bytes) get no more than the cap, and the next one is answered 503 at
once instead of the process running out of file descriptors."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_chassis_consumption import started_probe
from tests.support.kafka_tools import create_topics, unique_topic

pytestmark = pytest.mark.integration

CAP = 10


async def test_connections_past_the_cap_are_answered_503_at_once(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("http-cap")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    runtime = await started_probe(
        infrastructure, "probe_a", topic, f"cap-{uuid.uuid4().hex}", http_max_connections=CAP
    )
    held: list[asyncio.StreamWriter] = []
    try:
        url = f"http://127.0.0.1:{runtime.http_port}/health/live"
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).status_code == 200
        for _ in range(CAP):  # connections opened and left silent
            _, writer = await asyncio.open_connection("127.0.0.1", runtime.http_port)
            held.append(writer)
        await asyncio.sleep(0.2)  # the server has accepted them
        async with httpx.AsyncClient(timeout=5) as http:
            refused = await http.get(url)
        assert refused.status_code == 503
        for writer in held:
            writer.close()
        held.clear()
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).status_code == 200, "served again once they closed"
    finally:
        for writer in held:
            writer.close()
        await runtime.stop()

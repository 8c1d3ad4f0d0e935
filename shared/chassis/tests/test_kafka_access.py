"""The start-up access check never waits forever: a listener that accepts and stays silent
(a PLAINTEXT client at a TLS port, a wrong port) and a closed port are reported, named.
The refusals of a real broker are in tests/integration/test_secured_kafka.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from orderflow_chassis.kafka_access import KafkaAccessError, verify_kafka_access
from orderflow_chassis.kafka_security import KafkaSecurity


@pytest_asyncio.fixture
async def silent_listener() -> AsyncIterator[str]:
    """Accepts connections, reads whatever comes, never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_listener_that_never_answers_is_reported_after_the_deadline(
    silent_listener: str,
) -> None:
    with pytest.raises(KafkaAccessError) as refused:
        await verify_kafka_access(silent_listener, KafkaSecurity.model_construct(), timeout_s=1)

    assert str(refused.value) == (
        f"no Kafka bootstrap server answered (PLAINTEXT): {silent_listener}: no answer within "
        "1s (does KAFKA_SECURITY_PROTOCOL=PLAINTEXT match this listener?)"
    )


async def test_every_bootstrap_server_is_tried_and_each_failure_listed(
    silent_listener: str,
) -> None:
    closed = f"127.0.0.1:{closed_port()}"

    with pytest.raises(KafkaAccessError) as refused:
        await verify_kafka_access(
            f"{closed},{silent_listener}", KafkaSecurity.model_construct(), timeout_s=1
        )

    message = str(refused.value)
    assert f"{closed}: " in message
    assert "Connect call failed" in message
    assert f"{silent_listener}: no answer within 1s" in message

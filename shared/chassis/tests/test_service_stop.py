"""Stopping a service never waits for ever (decision 64): not for a producer that cannot
deliver (with idempotence, aiokafka's stop() waits for it without limit), nor for a pool whose
connections are still in use. Nothing is lost: unstamped outbox rows are published again."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import pytest
import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from orderflow_chassis import runtime as runtime_module
from orderflow_chassis.relay import OutboxRelay
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.waiting import wait_at_most


class BusyPool:
    """A pool one of whose connections is never released (a request still in flight)."""

    def __init__(self) -> None:
        self.terminated = False

    def get_size(self) -> int:
        return 3

    def get_idle_size(self) -> int:
        return 2

    async def close(self) -> None:
        await asyncio.Event().wait()  # asyncpg waits for every connection to come back

    def terminate(self) -> None:
        self.terminated = True


async def _retrying_until_cancelled() -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


async def test_stopping_abandons_what_the_producer_cannot_deliver_and_a_busy_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "_PRODUCER_FLUSH_AT_STOP_S", 0.2)
    monkeypatch.setattr(runtime_module, "_POOL_CLOSE_AT_STOP_S", 0.2)
    # A real idempotent producer holding one record its sender retries forever.
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", enable_idempotence=True)
    delivery = await producer._message_accumulator.add_message(
        TopicPartition("orders", 0), b"key", b"value", timeout=1
    )
    producer._sender._sender_task = asyncio.create_task(_retrying_until_cancelled())
    pool = BusyPool()
    runtime = ServiceRuntime(
        ServiceDefinition(name="probe"),
        ServiceSettings(service_name="probe", database_url="postgresql://x@y/z"),
    )
    runtime._pool = cast(Any, pool)
    runtime.relay = OutboxRelay(cast(Any, pool), producer, schema="probe", service="probe")

    with structlog.testing.capture_logs() as logs:
        await wait_at_most(10, runtime.stop())

    assert isinstance(delivery.exception(), KafkaError), "abandoned, not waited for"
    assert producer._sender.sender_task.done()
    assert pool.terminated
    logged = {entry["event"]: entry for entry in logs}
    assert logged["outbox.producer_abandoned_at_stop"]["abandoned_records"] == 1
    assert logged["service.pool_terminated"]["connections_in_use_at_stop"] == 1
    assert "service.stopped" in logged

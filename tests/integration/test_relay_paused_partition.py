"""A partition Kafka does not acknowledge holds up only its own rows (decision 69).

A partition whose leader is out of reach, or which has fewer in-sync replicas than its
``min.insync.replicas``, is retried without end by an idempotent producer, which says nothing.
One broker cannot make one partition unreachable while the others are not (and Kafka 4 caps
the minimum at the replication factor), so here the relay's producers never get an answer for
one topic, as they would not from such a partition, and reach the real broker for the other.
Before, every round waited for the stuck rows until the acknowledgement timeout, so the
service's other rows were published one round per timeout. Now the partition is paused: the
other topic's rows reach Kafka at once, and the stuck ones follow, in order, once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from orderflow_chassis.database import connect, create_pool
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.outbox import Outbox, create_producer
from orderflow_chassis.relay import OutboxRelay
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, read_topic
from tests.support.probe_service import probe_definition

pytestmark = pytest.mark.integration

SCHEMA = "probe_c"
ACK_TIMEOUT_S = 3.0


@contextlib.asynccontextmanager
async def running_relay(
    infrastructure: Infrastructure, stuck_topic: str, answering: asyncio.Event
) -> AsyncIterator[OutboxRelay]:
    kafka = infrastructure.kafka_bootstrap_servers

    def new_producer() -> AIOKafkaProducer:
        producer = create_producer(kafka, client_id="relay-paused-partition")
        send = producer.send

        async def send_or_hang(topic: str, *args: Any, **kwargs: Any) -> Any:
            if topic == stuck_topic and not answering.is_set():
                return asyncio.get_running_loop().create_future()  # no answer, ever
            return await send(topic, *args, **kwargs)

        producer.send = send_or_hang
        return producer

    pool = await create_pool(
        infrastructure.service_database_urls[SCHEMA],
        schema=SCHEMA,
        application_name=f"relay-paused-{uuid.uuid4().hex[:6]}",
    )
    producer = new_producer()
    await producer.start()
    relay = OutboxRelay(
        pool,
        producer,
        schema=SCHEMA,
        service=SCHEMA,
        poll_interval_s=0.05,
        new_producer=new_producer,
        ack_timeout_s=ACK_TIMEOUT_S,
    )
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close(flush_s=1.0)
        await pool.close()


async def unsent(connection: asyncpg.Connection, topic: str) -> int:
    return int(
        await connection.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.outbox WHERE topic = $1 AND sent_at IS NULL", topic
        )
    )


async def test_a_partition_kafka_does_not_acknowledge_holds_up_only_its_own_rows(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    stuck = f"test.relay-paused.stuck.{uuid.uuid4().hex[:10]}"
    flowing = f"test.relay-paused.flowing.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [stuck, flowing], partitions=1)
    answering = asyncio.Event()
    connection = await connect(infrastructure.service_database_urls[SCHEMA], schema=SCHEMA)
    await migrate_service(
        connection, SCHEMA, probe_definition(SCHEMA, in_topics=[], group="x").migrations
    )
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    emitted_at: dict[str, float] = {}  # event id -> when its transaction committed
    stuck_events: list[Envelope] = []

    async def emit(topic: str, cart: str) -> Envelope:
        event = cart_item_added(cart, sku="SKU-1").parse_event()
        async with connection.transaction():
            envelope = await outbox.add(connection, event, correlation_id=cart, topic=topic)
        emitted_at[str(envelope.event_id)] = time.time()  # wall clock, as Kafka's timestamps
        return envelope

    try:
        async with running_relay(infrastructure, stuck, answering) as relay:
            stuck_cart = f"cart-stuck-{uuid.uuid4().hex[:6]}"
            stuck_events += [await emit(stuck, stuck_cart), await emit(stuck, stuck_cart)]
            await asyncio.sleep(ACK_TIMEOUT_S + 0.5)  # its first round waits it out
            errors: set[str] = set()
            flowing_events = []
            for n in range(16):  # about three pauses and their probes
                flowing_events.append(await emit(flowing, f"cart-flowing-{n}"))
                await asyncio.sleep(0.6)
                errors.add(relay.last_error or "")
            assert await eventually(lambda: unsent(connection, flowing), lambda n: n == 0) == 0
            assert await unsent(connection, stuck) == 2, "held back while Kafka refuses them"

            records = await read_topic(kafka, flowing, expect=len(flowing_events))
            delays = [
                record.timestamp / 1000
                - emitted_at[str(Envelope.from_bytes(record.value).event_id)]
                for record in records
            ]
            assert len(delays) == len(flowing_events)
            assert statistics.median(delays) < 0.5, sorted(delays)
            assert max(delays) < ACK_TIMEOUT_S / 2, sorted(delays)
            assert any(f"{stuck}[0]" in error for error in errors), errors

            answering.set()  # well again
            assert await eventually(lambda: unsent(connection, stuck), lambda n: n == 0) == 0
        published = await read_topic(kafka, stuck, expect=2)
    finally:
        await connection.close()

    first_seen = list(dict.fromkeys(Envelope.from_bytes(r.value).event_id for r in published))
    assert first_seen == [envelope.event_id for envelope in stuck_events], "the cart's order"

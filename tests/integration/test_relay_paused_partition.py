"""A partition Kafka does not acknowledge holds up only its own rows (decision 69).

A partition whose leader is out of reach, or which has fewer in-sync replicas than its
``min.insync.replicas``, is retried without end by an idempotent producer, which says nothing.
One broker cannot make one partition unreachable while the others are not (and Kafka 4 caps
the minimum at the replication factor), so here the relay's producers reach the real broker
but never get an answer for one partition of a three-partition topic. Before, every round
waited for the stuck rows until the acknowledgement timeout, so every other row was published
one round per timeout. Now that partition is paused: the rows of the topic's other partitions
reach Kafka at once, and the stuck ones follow, in order, once it answers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.outbox import Outbox, create_producer
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, read_topic
from tests.support.probe_service import probe_definition
from tests.support.relay_harness import running_relay, unsent

pytestmark = pytest.mark.integration

SCHEMA = "probe_c"
ACK_TIMEOUT_S = 2.4  # a probe waits a sixth: 0.4 s
STUCK = 1  # of partitions 0, 1, 2


def partition_of(key: str) -> int:
    """Where Kafka's default partitioner (murmur2, as the Java client) puts ``key``."""
    chosen: int = DefaultPartitioner()(key.encode(), [0, 1, 2], [0, 1, 2])
    return chosen


def carts(on: Callable[[int], bool], count: int) -> list[str]:
    """``count`` cart ids whose partition satisfies ``on``."""
    run = uuid.uuid4().hex[:6]
    found = (f"cart-{run}-{n}" for n in range(10_000))
    return [cart for cart in found if on(partition_of(cart))][:count]


def answering_only_while(
    kafka: str, topic: str, answering: asyncio.Event
) -> Callable[[], AIOKafkaProducer]:
    """Producers that reach the broker, but get no answer for partition ``STUCK`` of ``topic``
    until ``answering`` is set. A send to it must name it: the relay routes every row itself."""

    def new_producer() -> AIOKafkaProducer:
        producer = create_producer(kafka, client_id="relay-paused-partition")
        send = producer.send

        async def send_or_hang(to: str, *args: Any, partition: int | None = None, **kw: Any) -> Any:
            if to == topic and not answering.is_set():
                assert partition is not None, "a row sent without its partition"
                if partition == STUCK:
                    return asyncio.get_running_loop().create_future()  # no answer, ever
            return await send(to, *args, partition=partition, **kw)

        producer.send = send_or_hang
        return producer

    return new_producer


def _returns(value: Callable[[], str]) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        return value()

    return probe


async def test_a_partition_kafka_does_not_acknowledge_holds_up_only_its_own_rows(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-paused.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=3)
    answering = asyncio.Event()
    connection = await connect(infrastructure.service_database_urls[SCHEMA], schema=SCHEMA)
    await migrate_service(
        connection, SCHEMA, probe_definition(SCHEMA, in_topics=[], group="x").migrations
    )
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    emitted_at: dict[str, float] = {}  # event id -> when its transaction committed
    (stuck_cart,) = carts(lambda p: p == STUCK, 1)
    flowing_carts = carts(lambda p: p != STUCK, 12)

    async def emit(cart: str) -> Envelope:
        event = cart_item_added(cart, sku="SKU-1").parse_event()
        async with connection.transaction():
            envelope = await outbox.add(connection, event, correlation_id=cart, topic=topic)
        emitted_at[str(envelope.event_id)] = time.time()  # wall clock, as Kafka's timestamps
        return envelope

    try:
        producers = answering_only_while(kafka, topic, answering)
        async with running_relay(
            infrastructure, SCHEMA, producers, ack_timeout_s=ACK_TIMEOUT_S
        ) as relay:
            stuck_events = [await emit(stuck_cart), await emit(stuck_cart)]
            # Its first round waits the timeout out, then pauses the partition. The rows below
            # are timed from then: a fixed sleep was too short on a loaded machine, and the
            # first of them waited for the end of that round.
            paused = await eventually(
                _returns(lambda: relay.last_error or ""),
                lambda error: f"{topic}[{STUCK}]" in error,
                timeout_s=ACK_TIMEOUT_S * 10,
            )
            assert f"{topic}[{STUCK}]" in paused, paused
            errors: set[str] = set()
            for cart in flowing_carts:  # about three pauses and their probes
                await emit(cart)
                await asyncio.sleep(0.5)
                errors.add(relay.last_error or "")
            left = await eventually(lambda: unsent(connection, SCHEMA, topic), lambda n: n == 2)
            assert left == 2, "every row but the stuck partition's is published"

            records = await read_topic(kafka, topic, expect=len(flowing_carts))
            delays = sorted(
                record.timestamp / 1000
                - emitted_at[str(Envelope.from_bytes(record.value).event_id)]
                for record in records
            )
            print(f"\nother partitions' rows reached Kafka after (s): {delays}")
            assert len(delays) == len(flowing_carts)
            assert {r.partition for r in records} <= {0, 1, 2} - {STUCK}
            assert statistics.median(delays) < 0.5, delays
            assert max(delays) < ACK_TIMEOUT_S / 2, delays
            assert any(f"{topic}[{STUCK}]" in error for error in errors), errors

            answering.set()  # well again
            left = await eventually(lambda: unsent(connection, SCHEMA, topic), lambda n: n == 0)
            assert left == 0, "the stuck partition's rows follow once it answers"
        published = await read_topic(kafka, topic, expect=len(flowing_carts) + 2)
    finally:
        await connection.close()

    stuck_records = [r for r in published if r.partition == STUCK]
    first_seen = list(dict.fromkeys(Envelope.from_bytes(r.value).event_id for r in stuck_records))
    assert first_seen == [envelope.event_id for envelope in stuck_events], "the cart's order"

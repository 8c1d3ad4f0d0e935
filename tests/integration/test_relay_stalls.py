"""Rounds that could never complete, and now do.

A topic Kafka does not have holds up only its own rows. With auto-create off, a topic deleted
(or renamed while rows for it were pending) has no metadata, and aiokafka's send waits for it
before it even takes the row. The relay hands a wave's rows over one after the other, so every
row behind that one waited too, the wave ran out of time, and the same row came first again in
every round: one missing topic stopped all of a service's publishing. A name Kafka cannot take
(a space in it) did the same. The broker here auto-creates topics, so the relay's producers are
made blind to one topic's metadata (aiokafka then waits for it exactly as for a topic that does
not exist) until the test lets them see it; the illegal name is real.

A server whose ``idle_in_transaction_session_timeout`` is shorter than Kafka takes to answer
(a managed cluster's default) ended the relay's session in every round that waited: nothing
was ever stamped sent, and every row was published again and again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
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

SCHEMA = "probe_d"
ACK_TIMEOUT_S = 2.4  # the router asks for a topic's metadata for a sixth of it: 0.4 s


def blind_to(kafka: str, topic: str, seen: asyncio.Event) -> Callable[[], AIOKafkaProducer]:
    """Producers whose metadata never has ``topic`` until ``seen`` is set."""

    def new_producer() -> AIOKafkaProducer:
        producer = create_producer(kafka, client_id="relay-unknown-topic")
        cluster = producer.client.cluster
        partitions_for_topic = cluster.partitions_for_topic

        def hiding(name: str) -> Any:
            return None if name == topic and not seen.is_set() else partitions_for_topic(name)

        cluster.partitions_for_topic = hiding
        return producer

    return new_producer


def answering_late(kafka: str, after_s: float) -> Callable[[], AIOKafkaProducer]:
    """Producers whose every acknowledgement reaches the relay ``after_s`` late."""

    def new_producer() -> AIOKafkaProducer:
        producer = create_producer(kafka, client_id="relay-late-answers")
        send = producer.send

        async def send_late(*args: Any, **kwargs: Any) -> Any:
            delivery = await send(*args, **kwargs)

            async def late() -> Any:
                answer = await delivery
                await asyncio.sleep(after_s)
                return answer

            return late()

        producer.send = send_late
        return producer

    return new_producer


async def test_a_short_idle_in_transaction_timeout_does_not_end_the_relays_rounds(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    run = uuid.uuid4().hex[:10]
    topic = f"test.relay-idle.{run}"
    await create_topics(kafka, [topic], partitions=3)
    connection = await connect(infrastructure.service_database_urls[SCHEMA], schema=SCHEMA)
    await migrate_service(
        connection, SCHEMA, probe_definition(SCHEMA, in_topics=[], group="x").migrations
    )
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    # As a server (or its role) set up with a short timeout: what a new session starts with.
    # In this database only: the role is shared with every database of the test servers.
    in_database = f'IN DATABASE "{await connection.fetchval("SELECT current_database()")}"'
    await connection.execute(
        f"ALTER ROLE CURRENT_USER {in_database} SET idle_in_transaction_session_timeout = 1000"
    )
    try:
        async with running_relay(
            infrastructure, SCHEMA, answering_late(kafka, after_s=1.5)
        ) as relay:
            for n in range(3):
                event = cart_item_added(f"cart-{run}-{n}", sku="SKU-1").parse_event()
                async with connection.transaction():
                    await outbox.add(connection, event, correlation_id=f"c-{n}", topic=topic)
            left = await eventually(
                lambda: unsent(connection, SCHEMA, topic), lambda n: n == 0, timeout_s=15
            )
            assert left == 0, f"never stamped sent: {relay.last_error}"
            assert relay.is_leader, relay.last_error
    finally:
        await connection.execute(
            f"ALTER ROLE CURRENT_USER {in_database} RESET idle_in_transaction_session_timeout"
        )
        await connection.close()


async def test_a_topic_kafka_does_not_have_holds_up_only_its_own_rows(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    run = uuid.uuid4().hex[:10]
    topic, missing, illegal = f"test.relay-topics.{run}", f"test.relay-gone.{run}", f"bad {run}"
    await create_topics(kafka, [topic, missing], partitions=3)
    seen = asyncio.Event()
    connection = await connect(infrastructure.service_database_urls[SCHEMA], schema=SCHEMA)
    await migrate_service(
        connection, SCHEMA, probe_definition(SCHEMA, in_topics=[], group="x").migrations
    )
    outbox = Outbox(SCHEMA, producer=SCHEMA)

    async def emit(cart: str, to: str) -> Envelope:
        event = cart_item_added(cart, sku="SKU-1").parse_event()
        async with connection.transaction():
            return await outbox.add(connection, event, correlation_id=cart, topic=to)

    try:
        async with running_relay(
            infrastructure, SCHEMA, blind_to(kafka, missing, seen), ack_timeout_s=ACK_TIMEOUT_S
        ) as relay:
            held_cart = f"cart-{run}-held"
            first = await emit(held_cart, missing)  # the oldest rows: first in every round
            await emit(f"cart-{run}-illegal", illegal)
            behind = await emit(held_cart, topic)  # must not overtake the held cart's first
            flowing = [await emit(f"cart-{run}-{n}", topic) for n in range(10)]

            left = await eventually(lambda: unsent(connection, SCHEMA, topic), lambda n: n == 1)
            assert left == 1, "every row of the topic Kafka has is published, but the held key's"
            records = await read_topic(kafka, topic, expect=len(flowing))
            assert {Envelope.from_bytes(r.value).event_id for r in records} == {
                e.event_id for e in flowing
            }
            error = relay.last_error or ""
            assert f"Kafka gives no partitions for {missing} (" in error, error
            assert await unsent(connection, SCHEMA, missing) == 1

            parked = await eventually(
                lambda: connection.fetchval(
                    f"SELECT last_error FROM {SCHEMA}.outbox WHERE topic = $1 AND parked_at"
                    " IS NOT NULL",
                    illegal,
                ),
                lambda found: found is not None,
                timeout_s=ACK_TIMEOUT_S * 10,
            )
            assert "cannot be a Kafka topic's name" in (parked or ""), parked

            seen.set()  # the topic is there again
            gone = await eventually(lambda: unsent(connection, SCHEMA, topic), lambda n: n == 0)
            assert gone == 0, "the held key's later row follows its first"
            assert await unsent(connection, SCHEMA, missing) == 0
        (late,) = await read_topic(kafka, missing, expect=1)
        after = [r for r in await read_topic(kafka, topic, expect=11) if r.key == late.key]
    finally:
        await connection.close()

    assert Envelope.from_bytes(late.value).event_id == first.event_id
    assert [Envelope.from_bytes(r.value).event_id for r in after] == [behind.event_id]
    assert after[0].timestamp >= late.timestamp, "the cart's second event went out after its first"

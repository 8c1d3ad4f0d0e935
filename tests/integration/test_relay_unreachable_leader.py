"""A broker the relay cannot reach, though still named as leader, never freezes the relay.

The relay's idempotent producer retries a send without end while its error can pass, and says
nothing. Here the relay reaches the broker through a proxy that stops passing bytes on while
keeping every connection open: the round must still end within its bound (not sit in its
transaction), the stuck producer must be replaced, and once the broker is reachable again every
row is published with the aggregate's events in order, a duplicate at worst (decision 64).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from orderflow_chassis.outbox import Outbox, create_producer
from orderflow_chassis.relay import OutboxRelay
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_relay_order import SCHEMA, migrated, unsent
from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, end_offsets, eventually, read_topic
from tests.support.relay_harness import running_relay

pytestmark = pytest.mark.integration

ACK_TIMEOUT_S = 1.0


class Cuttable:
    """A TCP proxy to one broker that can stop passing bytes on, both ways, connections open."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.passing = asyncio.Event()
        self.passing.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        pipes = {
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        }
        self._pipes |= pipes
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes -= pipes

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.passing.wait()  # cut: held, as by a network that lost its route
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def through(proxy: Cuttable, producer: AIOKafkaProducer) -> AIOKafkaProducer:
    """``producer`` reaches every broker named in metadata through ``proxy`` (it bootstraps
    directly, as a pod that can reach the bootstrap address but not the leader)."""
    cluster = producer.client.cluster
    named = cluster.broker_metadata

    def via_proxy(node_id: object) -> object:
        broker = named(node_id)
        return None if broker is None else broker._replace(host="127.0.0.1", port=proxy.port)

    cluster.broker_metadata = via_proxy
    return producer


@contextlib.asynccontextmanager
async def relay_through(
    infrastructure: Infrastructure, proxy: Cuttable
) -> AsyncIterator[tuple[OutboxRelay, list[AIOKafkaProducer]]]:
    kafka = infrastructure.kafka_bootstrap_servers
    made: list[AIOKafkaProducer] = []

    def new_producer() -> AIOKafkaProducer:
        made.append(through(proxy, create_producer(kafka, client_id="relay-unreachable")))
        return made[-1]

    async with running_relay(
        infrastructure, SCHEMA, new_producer, ack_timeout_s=ACK_TIMEOUT_S
    ) as relay:
        yield relay, made


def retrying(producer: AIOKafkaProducer) -> bool:
    sender = producer._sender.sender_task
    return sender is not None and not sender.done()


async def open_transaction_s(connection: asyncpg.Connection, pid: int | None) -> float:
    """How long the relay's session has been inside its current transaction (0 if none)."""
    age = await connection.fetchval(
        "SELECT extract(epoch FROM clock_timestamp() - xact_start) FROM pg_stat_activity "
        "WHERE pid = $1 AND xact_start IS NOT NULL",
        pid,
    )
    return 0.0 if age is None else float(age)


async def test_a_leader_out_of_reach_ends_the_round_and_a_new_producer_publishes_in_order(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-unreachable.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    host, port = kafka.split(",")[0].rsplit(":", 1)
    proxy = Cuttable(host, int(port))
    await proxy.start()
    connection = await migrated(infrastructure.service_database_urls[SCHEMA])
    outbox = Outbox(SCHEMA, producer=SCHEMA)
    cart = f"cart-unreachable-{uuid.uuid4().hex[:6]}"
    written: list[Envelope] = []

    async def emit(sku: str) -> None:
        event = cart_item_added(cart, sku=sku).parse_event()
        async with connection.transaction():
            written.append(await outbox.add(connection, event, correlation_id=sku, topic=topic))

    try:
        async with relay_through(infrastructure, proxy) as (relay, made):
            await emit("SKU-0")
            assert await eventually(lambda: unsent(connection, topic), lambda n: n == 0) == 0

            proxy.passing.clear()  # the leader is out of reach; metadata still names it
            for n in range(1, 4):
                await emit(f"SKU-{n}")
            errors: set[str] = set()
            longest_s = 0.0
            for _ in range(int(4 * ACK_TIMEOUT_S / 0.1)):
                longest_s = max(longest_s, await open_transaction_s(connection, relay.session_pid))
                errors.add(relay.last_error or "")
                await asyncio.sleep(0.1)
            assert any("did not acknowledge" in error for error in errors), errors
            assert longest_s < ACK_TIMEOUT_S + 1.5, "a round sat in its transaction"
            assert await unsent(connection, topic) == 3
            assert len(made) >= 2, "the stuck producer was replaced"
            replaced = made[:-1]
            assert all(p._closed for p in replaced), "replaced producers are stopped"
            assert not any(retrying(p) for p in replaced), "and retry nothing in the background"

            proxy.passing.set()  # reachable again: what it held arrives late, as duplicates
            assert await eventually(lambda: unsent(connection, topic), lambda n: n == 0) == 0
        # Every row was acknowledged: whatever arrives later is a duplicate.
        (count,) = (await end_offsets(kafka, [TopicPartition(topic, 0)])).values()
        records = await read_topic(kafka, topic, expect=count, timeout_s=30)
    finally:
        await connection.close()
        await proxy.close()

    published = [Envelope.from_bytes(record.value).event_id for record in records]
    first_seen = list(dict.fromkeys(published))
    assert first_seen == [envelope.event_id for envelope in written], "the aggregate's order"

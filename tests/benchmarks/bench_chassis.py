"""Throughput of the chassis pipeline on real Kafka and PostgreSQL; prints figures.

Publishes N ``CartItemAdded`` envelopes to a private topic, then measures
1. the consumer: records applied per second (inbox + effect + positions, one transaction per
   batch) by the probe service, and
2. the relay: outbox rows published per second (claim, publish with acks=all, stamp sent).

Run: ``uv run python -m tests.benchmarks.bench_chassis --events 5000`` (local infrastructure
started if needed). Figures depend on the machine; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from orderflow_chassis.database import connect
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_localinfra.discovery import ensure_infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, publish_raw, read_topic, unique_topic
from tests.support.probe_service import probe_definition, probe_settings

SCHEMA = "probe_a"


async def consumer_throughput(kafka: str, database_url: str, events: int, batch: int) -> float:
    topic = unique_topic("bench-consume")
    await create_topics(kafka, [topic])
    envelopes = [cart_item_added(f"cart-{i % 64}", sku="SKU-001") for i in range(events)]
    await publish_raw(kafka, topic, [(e.aggregate_id.encode(), e.to_bytes()) for e in envelopes])
    settings = probe_settings(
        SCHEMA, database_url=database_url, kafka=kafka, consumer_max_records=batch
    )
    runtime = ServiceRuntime(
        probe_definition(SCHEMA, in_topics=[topic], group=f"bench-{uuid.uuid4().hex[:6]}"),
        settings,
    )
    ids = [e.event_id for e in envelopes]
    await runtime.start()  # migrations and joining the group are not part of the figure
    started = time.perf_counter()
    try:
        while True:
            done = await runtime.pool.fetchval(
                "SELECT count(*) FROM effects WHERE event_id = ANY($1::uuid[])", ids
            )
            if done >= events:
                break
            await asyncio.sleep(0.05)
        return events / (time.perf_counter() - started)
    finally:
        await runtime.stop()


async def relay_throughput(kafka: str, database_url: str, events: int, batch: int) -> float:
    topic = unique_topic("bench-relay")
    await create_topics(kafka, [topic])
    connection = await connect(database_url, schema=SCHEMA)
    try:
        outbox = Outbox(SCHEMA, producer="bench")
        async with connection.transaction():
            for i in range(events):
                event = cart_item_added(f"cart-{i % 64}", sku="SKU-001").parse_event()
                await outbox.add(connection, event, correlation_id="bench", topic=topic)
    finally:
        await connection.close()
    settings = probe_settings(
        SCHEMA, database_url=database_url, kafka=kafka, relay_batch_size=batch
    )
    runtime = ServiceRuntime(probe_definition(SCHEMA, in_topics=[], group="unused"), settings)
    await runtime.start()
    started = time.perf_counter()
    try:
        records = await read_topic(kafka, topic, expect=events, timeout_s=300)
        assert len(records) >= events, f"only {len(records)} of {events} published"
        return events / (time.perf_counter() - started)
    finally:
        await runtime.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200, help="consumer / relay batch size")
    args = parser.parse_args()
    infrastructure = await asyncio.to_thread(
        ensure_infrastructure, services=["cart", "payment", "fulfillment", "returns", SCHEMA]
    )
    kafka = infrastructure.kafka_bootstrap_servers
    database_url = infrastructure.service_database_urls[SCHEMA]
    consumed = await consumer_throughput(kafka, database_url, args.events, args.batch)
    relayed = await relay_throughput(kafka, database_url, args.events, args.batch)
    print(f"events: {args.events}, batch size: {args.batch}")
    print(f"consumer (inbox + effect + positions, 1 tx/batch): {consumed:,.0f} events/s")
    print(f"relay (claim, publish acks=all, stamp sent):      {relayed:,.0f} rows/s")


if __name__ == "__main__":
    asyncio.run(main())

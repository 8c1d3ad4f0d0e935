"""``bench_projection --through-kafka``: the order-status consumer as it runs, fed from Kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

from aiokafka import AIOKafkaProducer
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.settings import CartSettings
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.support.service_harness import running_service, service_settings, unique_prefix


async def publish(kafka: str, prefix: str, arrived: list[Envelope]) -> None:
    """Every envelope to its topic, keyed by its aggregate, in order (one producer, pipelined)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", **kafka_client_options()
    )
    await producer.start()
    try:
        sent = [
            await producer.send(
                prefix + type(envelope.parse_event()).topic,
                envelope.to_bytes(),
                key=envelope.aggregate_id.encode(),
                headers=[("event_type", envelope.event_type.encode())],
            )
            for envelope in arrived
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def consume_through_kafka(own: Infrastructure, arrived: list[Envelope], batch: int) -> None:
    prefix = unique_prefix("projbench")
    kafka = own.kafka_bootstrap_servers
    settings = service_settings(
        own, "cart", topic_prefix=prefix, consumer_max_records=batch, consumer_batch_timeout_ms=200
    )
    # The batch asked for, not the read model's own gathering.
    whole = build_definition(settings, cart_settings=CartSettings(order_status_gather_ms=0))
    only_status = dataclasses.replace(
        whole,
        subscriptions=[s for s in whole.subscriptions if s.name == "order-status"],
        background_jobs=[],
    )
    # The service creates its topics as it starts; the clock starts with the first publish
    # (publishing is several times faster than applying, so the figure is the consumer's).
    async with running_service(only_status, settings) as runtime:
        cpu_before, started = time.process_time(), time.perf_counter()
        await publish(kafka, prefix, arrived)
        print(f"published {len(arrived)} events in {time.perf_counter() - started:.1f} s")
        while True:
            applied = await runtime.pool.fetchval(
                "SELECT coalesce(sum(version), 0) FROM order_status"
            )
            if applied >= len(arrived):
                break
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
    rate = len(arrived) / elapsed
    print(f"order-status consumer, from the first publish: {rate:,.0f} events/s ({elapsed:.1f} s)")
    per_event_ms = cpu * 1000 / len(arrived)
    print(f"this process CPU (publishing and the consumer): {per_event_ms:.3f} ms per event")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} (1 min), {os.cpu_count()} cores")

"""Checkout throughput against the real Kafka and PostgreSQL (prints figures; asserts nothing).

    uv run python -m services.cart.tests.benchmarks.bench_checkout [--carts 300]

Publishes, per cart, a currency choice, three adds and a checkout (5 events), with the cart
service running in-process, and measures the time from the first publish until every
OrderPlaced is in the outbox, and until the last one is on Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from orderflow_cart.bootstrap import build_definition
from orderflow_cart.domain.checkout import order_id_for
from orderflow_chassis.clock import SystemClock
from orderflow_contracts import topics
from orderflow_localinfra.discovery import ensure_infrastructure

from services.cart.tests.integration.storefront import (
    Storefront,
    add,
    checkout,
    currency,
    envelopes_of,
    new_cart_id,
)
from tests.support.kafka_tools import eventually, publish_raw
from tests.support.service_harness import running_service, service_settings, unique_prefix


async def main(carts: int) -> None:
    infrastructure = ensure_infrastructure(services=["cart"], keep_local_running=True)
    prefix = unique_prefix("cart-bench")
    settings = service_settings(infrastructure, "cart", topic_prefix=prefix)
    storefront = Storefront(infrastructure, prefix)
    cart_ids = [new_cart_id("bench") for _ in range(carts)]
    records = []
    for cart_id in cart_ids:
        for event in (
            currency(cart_id, "EUR"),
            add(cart_id, "MB-SPIKY-8CM", 2),
            add(cart_id, "NS-ADJ-M"),
            add(cart_id, "TS-GEL-2PK", 3),
            checkout(cart_id),
        ):
            envelope = storefront.envelope(event)
            records.append((envelope.key, envelope.to_bytes()))
    async with running_service(build_definition(settings, clock=SystemClock()), settings) as rt:
        started = time.perf_counter()
        await publish_raw(
            infrastructure.kafka_bootstrap_servers, prefix + topics.STOREFRONT_CARTS, records
        )
        published = time.perf_counter()
        order_ids = [order_id_for(cart_id) for cart_id in cart_ids]

        async def placed_count() -> int:
            query = "SELECT count(*) FROM orders WHERE order_id = ANY($1)"
            return int(await rt.pool.fetchval(query, order_ids))

        await eventually(placed_count, lambda n: n == carts, timeout_s=600, interval_s=0.05)
        placed = time.perf_counter()
        await eventually(
            lambda: envelopes_of(infrastructure, prefix, topics.ORDERS, str(order_ids[-1])),
            bool,
            timeout_s=600,
            interval_s=0.05,
        )
        on_kafka = time.perf_counter()
    events = len(records)
    print(f"carts: {carts}, storefront events: {events}")
    print(f"publish (one producer, send_and_wait each): {published - started:.2f} s")
    print(
        f"all orders placed: {placed - started:.2f} s after the first publish "
        f"({events / (placed - started):.0f} events/s, "
        f"{carts / (placed - started):.0f} checkouts/s)"
    )
    print(f"last OrderPlaced on Kafka: {on_kafka - started:.2f} s after the first publish")
    infrastructure.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--carts", type=int, default=300)
    asyncio.run(main(parser.parse_args().carts))

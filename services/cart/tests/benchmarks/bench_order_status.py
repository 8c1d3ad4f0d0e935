"""Order-status reads with 100,000 orders stored (prints figures; asserts nothing).

    uv run python -m services.cart.tests.benchmarks.bench_order_status [--orders 100000]
        [--requests 3000] [--examples]

Runs the cart service as its own process (as `make run` does) in a database of its own
(dropped afterwards), fills its
order-status table with ``--orders`` orders (four kinds of journey, projected by the service's
own reducer, written in batches), then times ``--requests`` sequential
``GET /orders/{id}`` of random orders over one keep-alive connection, as a storefront's
backend would, and prints p50/p95/p99. ``--examples`` also publishes one order's events to
Kafka and prints the answers of every route, as in the cart README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from orderflow_cart.order_status.domain.facts import apply
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.domain.view import order_view
from orderflow_chassis.database import connect
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure, ensure_infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_ops.system import ServiceProcess, wait_until_ready

from services.cart.tests.order_events import OrderJourney, envelopes
from tests.support.kafka_tools import eventually
from tests.support.service_harness import publish_envelopes, unique_prefix
from tests.support.system_harness import free_port

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BATCH = 2_000


def templates() -> list[tuple[OrderJourney, list[Envelope]]]:
    """Four kinds of order: completed, split and refunded with a replacement, cancelled, new."""
    kinds = []
    for label, events in (
        ("done", lambda j: j.happy_path()),
        ("all", lambda j: j.everything()),
        ("declined", lambda j: [j.placed(), j.declined(), j.cancelled("payment_declined", "no")]),
        ("new", lambda j: [j.placed()]),
    ):
        journey = OrderJourney(label)
        kinds.append((journey, envelopes(events(journey))))
    return kinds


def rows_of(journey: OrderJourney, applied: list[Envelope], copies: int) -> list[tuple[Any, ...]]:
    facts = OrderFacts(order_id=journey.order_id)
    for envelope in applied:
        facts = apply(
            facts,
            envelope.parse_event(),
            occurred_at=envelope.occurred_at,
            event_id=envelope.event_id,
        )
    view = order_view(facts)
    facts_text = facts.model_dump_json(exclude_defaults=True)
    view_text = view.model_dump_json()
    template_id = str(journey.order_id)
    rows = []
    for _ in range(copies):
        clone = OrderJourney(journey.label)
        new_id = str(clone.order_id)
        rows.append(
            (
                clone.order_id,
                clone.cart_id,
                clone.customer_id,
                view.placed_at,
                view.state.value,
                facts_text.replace(template_id, new_id),
                view_text.replace(template_id, new_id)
                .replace(journey.cart_id, clone.cart_id)
                .replace(journey.customer_id, clone.customer_id),
                len(applied),
                applied[-1].event_id,
                applied[-1].event_type,
                applied[-1].occurred_at,
            )
        )
    return rows


async def fill(database: asyncpg.Connection, orders: int) -> list[Any]:
    kinds = templates()
    ids: list[Any] = []
    started = time.perf_counter()
    per_kind = orders // len(kinds)
    for journey, applied in kinds:
        left = per_kind
        while left:
            rows = rows_of(journey, applied, min(BATCH, left))
            left -= len(rows)
            await database.executemany(
                """
                INSERT INTO order_status
                    (order_id, cart_id, customer_id, placed_at, state, facts, view, version,
                     last_event_id, last_event_type, last_event_at, last_applied_at)
                VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7::text::json, $8, $9, $10,
                        $11, now())
                """,
                rows,
            )
            ids += [row[0] for row in rows]
    await database.execute("ANALYZE order_status")
    print(f"filled {len(ids)} orders in {time.perf_counter() - started:.1f} s")
    return ids


def percentile(sorted_ms: list[float], share: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(share * (len(sorted_ms) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(http: httpx.AsyncClient, ids: list[Any], requests: int, pid: int) -> None:
    rng = random.Random(14)
    for order_id in rng.sample(ids, 50):  # warm the connection and the server
        await http.get(f"/orders/{order_id}", headers=AUTH)
    timings = []
    cpu_before = cpu_seconds(pid)
    for order_id in (rng.choice(ids) for _ in range(requests)):
        started = time.perf_counter()
        response = await http.get(f"/orders/{order_id}", headers=AUTH)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / requests
    timings.sort()
    print(
        f"GET /orders/{{id}}: {requests} requests, one connection, sequential: "
        f"p50 {percentile(timings, 0.5):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, "
        f"p99 {percentile(timings, 0.99):.2f} ms, max {timings[-1]:.2f} ms, "
        f"mean {statistics.fmean(timings):.2f} ms; cart process CPU {cpu_ms:.2f} ms per request"
    )
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} (1 min), {os.cpu_count()} cores")


async def examples(infrastructure: Infrastructure, http: httpx.AsyncClient, prefix: str) -> None:
    """One order's journey published to Kafka; every route's answer printed."""
    journey = OrderJourney("readme")
    applied = envelopes([*journey.happy_path(), journey.return_authorized("ret-1")])
    await publish_envelopes(infrastructure, prefix, applied)

    async def version() -> int:
        response = await http.get(f"/orders/{journey.order_id}", headers=AUTH)
        return int(response.json()["position"]["version"]) if response.status_code == 200 else 0

    await eventually(version, lambda v: v == len(applied), timeout_s=60)
    for path in (
        f"/orders/{journey.order_id}",
        f"/customers/{journey.customer_id}/orders",
        "/orders/not-a-uuid",
    ):
        response = await http.get(path, headers=AUTH)
        print(f"\n$ GET {path}\n{response.status_code} ETag: {response.headers.get('etag')}")
        print(json.dumps(response.json(), indent=2))
    async with http.stream("GET", f"/orders/{journey.order_id}/events", headers=AUTH) as feed:
        print(f"\n$ GET /orders/{journey.order_id}/events")
        async for line in feed.aiter_lines():
            print(line[:300] + (" ..." if len(line) > 300 else ""))
            if line == "":
                break


async def main(orders: int, requests: int, show_examples: bool) -> None:
    found = ensure_infrastructure(services=["cart"], keep_local_running=True)
    async with isolated_database(found, "statusbench", services=["cart"]) as own:
        prefix = unique_prefix("status-bench")
        with tempfile.TemporaryDirectory() as logs:
            cart = ServiceProcess("cart", free_port(), Path(logs) / "cart.log")
            cart.start(
                own,
                {"KAFKA_TOPIC_PREFIX": prefix, "CART_STOREFRONT_API_TOKEN": TOKEN},
            )
            try:
                await asyncio.to_thread(wait_until_ready, [cart])
                database = await connect(own.service_database_urls["cart"], schema="cart")
                try:
                    async with httpx.AsyncClient(base_url=cart.base_url) as http:
                        if show_examples:
                            await examples(own, http, prefix)
                        ids = await fill(database, orders)
                        assert cart.process is not None
                        await measure(http, ids, requests, cart.process.pid)
                finally:
                    await database.close()
            finally:
                cart.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--examples", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.orders, arguments.requests, arguments.examples))

"""Cost of the order-status projection per event, on real PostgreSQL (prints figures; asserts
nothing).

    uv run python -m services.cart.tests.benchmarks.bench_projection [--orders 2000]
        [--in-flight 200] [--batch 200] [--profile] [--through-kafka]

Builds the events of ``--orders`` recorded orders (8 in 10 the happy path, 1 in 10 declined
and cancelled, 1 in 10 everything: a split shipment, a partial refund, a warranty
replacement), and feeds them through the projection's handlers as the order-status consumer
does: ``--batch`` events per transaction, ``lock_batch`` first, then ``project_order_event``
per event, then ``write_batch``. ``--in-flight`` orders are under way at once and their events
interleave (step 1 of each, then step 2 of each ...), so with the defaults a batch holds one
event of each of 200 orders, as at full benchmark speed. The consumer's own work (inbox,
positions) is not part of the figure; see ``tests/benchmarks/bench_chassis.py`` for that.

Prints events/s, this process' CPU and the PostgreSQL backend's CPU per event (read from
``/proc``, so only when the server runs on this machine). ``--profile`` adds the top of a
cProfile of the handlers. Runs in a database of its own, dropped afterwards.

``--through-kafka`` measures the whole consumer instead: the cart's order-status consumer alone
is started in this process (the real subscription: card-data screening, decoding, inbox,
positions, batches from five topics), the events are published to its topics (a private
prefix, the same interleaved order, keyed by order as their producers key them), and it is
timed from the first publish until every event is applied.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from orderflow_cart.adapters import sql_repositories
from orderflow_cart.bootstrap import cart_migrations
from orderflow_cart.order_status.handlers import lock_batch, project_order_event, write_batch
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.policies import DEFAULT_RETURN_WINDOW, DEFAULT_WARRANTY_POLICY
from orderflow_localinfra.discovery import ensure_infrastructure
from orderflow_localinfra.isolation import isolated_database

from services.cart.tests.benchmarks.projection_consumer import consume_through_kafka
from services.cart.tests.order_events import OrderJourney, envelopes

SCHEMA = "cart"


def journey_events(index: int) -> list[Envelope]:
    journey = OrderJourney(f"bench-{index}")
    if index % 10 == 0:
        return envelopes(journey.everything())
    if index % 10 == 1:
        declined = [journey.placed(), journey.checked_out(), journey.declined()]
        return envelopes([*declined, journey.cancelled("payment_declined", "declined")])
    return envelopes(journey.happy_path())


def arrivals(orders: int, in_flight: int) -> list[Envelope]:
    """Every order's events, ``in_flight`` orders interleaved step by step."""
    arrived: list[Envelope] = []
    for wave_start in range(0, orders, in_flight):
        wave = [journey_events(i) for i in range(wave_start, min(orders, wave_start + in_flight))]
        for step in range(max(len(events) for events in wave)):
            arrived += [events[step] for events in wave if step < len(events)]
    return arrived


def batches(arrived: list[Envelope], size: int) -> Iterator[list[Envelope]]:
    for start in range(0, len(arrived), size):
        yield arrived[start : start + size]


async def never_emits(event: Event, **_: object) -> None:
    raise AssertionError(f"the projection emitted {event.event_type}")


async def project(connection: asyncpg.Connection, arrived: list[Envelope], size: int) -> None:
    repositories = sql_repositories(SCHEMA)
    for batch in batches(arrived, size):
        async with connection.transaction():
            now = datetime.now(UTC)
            events = [envelope.parse_event() for envelope in batch]
            unit = UnitOfWork(repos=repositories(connection), now=now, emitter=never_emits)
            await lock_batch(events, unit)
            for envelope, event in zip(batch, events, strict=True):
                await project_order_event(
                    event,
                    UnitOfWork(repositories(connection), now, never_emits, cause=envelope),
                    return_window=DEFAULT_RETURN_WINDOW,
                    warranty_policy=DEFAULT_WARRANTY_POLICY,
                )
            await write_batch(unit)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux), None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(orders: int, in_flight: int, size: int, profile: bool, kafka: bool) -> None:
    found = await asyncio.to_thread(ensure_infrastructure, services=["cart"])
    async with isolated_database(found, "projbench", services=["cart"]) as own:
        if kafka:
            await consume_through_kafka(own, arrivals(orders, in_flight), batch=size)
            return
        connection = await connect(own.service_database_urls["cart"], schema=SCHEMA)
        try:
            await migrate_service(connection, SCHEMA, cart_migrations())
            arrived = arrivals(orders, in_flight)
            backend = await connection.fetchval("SELECT pg_backend_pid()")
            # A few orders first, so connection set-up and statement preparation are not
            # counted.
            warm_up, measured = arrived[:size], arrived[size:]
            await project(connection, warm_up, size)
            profiler = cProfile.Profile() if profile else None
            server_before = cpu_seconds(backend)
            cpu_before, started = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            await project(connection, measured, size)
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            server_after = cpu_seconds(backend)
            stored = await connection.fetchval("SELECT count(*) FROM order_status")
        finally:
            await connection.close()
    events = len(measured)
    print(
        f"orders: {orders} ({stored} rows), events measured: {events}, batch: {size}, "
        f"in flight: {in_flight}"
    )
    print(f"throughput: {events / elapsed:,.0f} events/s ({elapsed:.1f} s)")
    print(f"this process CPU: {cpu * 1000 / events:.3f} ms per event")
    if server_before is not None and server_after is not None:
        server_ms = (server_after - server_before) * 1000 / events
        print(f"PostgreSQL backend CPU: {server_ms:.3f} ms per event")
    else:
        print("PostgreSQL backend CPU: not readable from here (server on another machine?)")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} (1 min), {os.cpu_count()} cores")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--through-kafka", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.orders,
            arguments.in_flight,
            arguments.batch,
            arguments.profile,
            arguments.through_kafka,
        )
    )

"""Many orders race for fewer units than they ask for: never oversell.

Two levels: many database transactions reserving at once (the repository's conditional
update), and two service instances in one consumer group splitting the partitions of a
3-partition topic between them (the whole path, through Kafka).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord
from orderflow_chassis.clock import SettableClock
from orderflow_chassis.database import create_pool
from orderflow_chassis.runtime import RuntimeHooks, ServiceRuntime
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import StockReserved, StockUnavailable
from orderflow_fulfillment.adapters.stock import StockRepository
from orderflow_fulfillment.bootstrap import build_definition
from orderflow_fulfillment.domain.allocation import AllocationPlan, Line, Shortage
from orderflow_fulfillment.domain.stock_file import WarehouseEntry
from orderflow_fulfillment.handlers._reserving import reserve_lines
from orderflow_localinfra.discovery import Infrastructure

from services.fulfillment.tests.integration.conftest import fast_settings
from services.fulfillment.tests.integration.flow import (
    SCHEMA,
    Watcher,
    create_service_topics,
    load_warehouses,
    new_sku,
    order_placed,
    tag,
)
from tests.support.kafka_tools import eventually
from tests.support.service_harness import (
    publish_envelopes,
    running_service,
    service_settings,
    unique_prefix,
)

pytestmark = pytest.mark.integration

EU_UNITS, US_UNITS = 7, 5
UNITS = EU_UNITS + US_UNITS


async def levels(runtime: ServiceRuntime, sku: str) -> dict[str, tuple[int, int]]:
    rows = await runtime.pool.fetch(
        f"SELECT warehouse_id, on_hand, reserved FROM {SCHEMA}.stock WHERE sku = $1", sku
    )
    return {r["warehouse_id"]: (r["on_hand"], r["reserved"]) for r in rows}


async def two_warehouses(infrastructure: Infrastructure, sku: str) -> tuple[str, str]:
    eu, us = f"T{tag()}-EU", f"T{tag()}-US"
    await load_warehouses(
        infrastructure,
        [
            WarehouseEntry(id=eu, name="EU", country="DE", near=["FR"], stock={sku: EU_UNITS}),
            WarehouseEntry(id=us, name="US", country="US", stock={sku: US_UNITS}),
        ],
    )
    return eu, us


async def race_reservations(
    database_url: str, orders: Sequence[tuple[Sequence[Line], str]]
) -> list[AllocationPlan | Shortage]:
    """Reserve each order's lines (shipped to its country) in a transaction of its own, on
    the repository alone (no batch locks), all at once: every transaction is open before any
    of them reserves."""
    pool = await create_pool(
        database_url,
        schema=SCHEMA,
        application_name="oversell-racers",
        min_size=len(orders),
        max_size=len(orders),
    )
    start = asyncio.Event()
    at_the_line = 0

    async def one_order(lines: Sequence[Line], country: str) -> AllocationPlan | Shortage:
        nonlocal at_the_line
        async with pool.acquire() as connection, connection.transaction():
            at_the_line += 1
            await start.wait()
            return await reserve_lines(StockRepository(connection, SCHEMA), lines, country)

    tasks = [asyncio.create_task(one_order(lines, country)) for lines, country in orders]

    async def waiting() -> int:
        return at_the_line

    try:
        assert await eventually(waiting, lambda n: n == len(orders)) == len(orders)
        start.set()  # every transaction is open: they all reserve at once
        return await asyncio.gather(*tasks)
    finally:
        start.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()


async def test_concurrent_transactions_never_reserve_more_than_exists(
    orderflow_infrastructure: Infrastructure,
) -> None:
    prefix = unique_prefix("oversell-db")
    racers = 30
    settings = service_settings(orderflow_infrastructure, "fulfillment", topic_prefix=prefix)
    definition = build_definition(settings, fulfillment=fast_settings())
    async with running_service(definition, settings) as runtime:  # migrated schema
        sku = new_sku("LAST")
        eu, us = await two_warehouses(orderflow_infrastructure, sku)
        outcomes = await race_reservations(
            settings.database_url,
            [([Line(sku, 1)], "DE" if i % 2 else "US") for i in range(racers)],
        )

        assert sum(isinstance(o, AllocationPlan) for o in outcomes) == UNITS
        assert sum(isinstance(o, Shortage) for o in outcomes) == racers - UNITS
        assert await levels(runtime, sku) == {eu: (7, 7), us: (5, 5)}


async def test_racing_orders_of_two_lines_keep_no_reservation_of_a_line_that_lost(
    orderflow_infrastructure: Infrastructure,
) -> None:
    """One line has room for everyone, the other for a few: a reservation that got through
    on the first line but lost the race on the second gives the first back."""
    prefix = unique_prefix("oversell-two-lines")
    racers = 30
    settings = service_settings(orderflow_infrastructure, "fulfillment", topic_prefix=prefix)
    definition = build_definition(settings, fulfillment=fast_settings())
    async with running_service(definition, settings) as runtime:  # migrated schema
        plenty, scarce = new_sku("PLENTY"), new_sku("SCARCE")
        warehouse = f"T{tag()}-EU"
        await load_warehouses(
            orderflow_infrastructure,
            [
                WarehouseEntry(
                    id=warehouse,
                    name="EU",
                    country="DE",
                    stock={plenty: racers * 2, scarce: EU_UNITS},
                )
            ],
        )
        outcomes = await race_reservations(
            settings.database_url, [([Line(plenty, 1), Line(scarce, 1)], "DE")] * racers
        )

        placed = sum(isinstance(o, AllocationPlan) for o in outcomes)
        assert placed == EU_UNITS
        assert await levels(runtime, scarce) == {warehouse: (EU_UNITS, EU_UNITS)}
        # Only the orders that were placed hold units of the plentiful line.
        assert await levels(runtime, plenty) == {warehouse: (racers * 2, placed)}


async def _assigned_partitions(runtime: ServiceRuntime) -> set[tuple[str, int]]:
    broker = runtime._broker  # the test needs to know the group has settled
    assert broker is not None
    found: set[tuple[str, int]] = set()
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is not None:
            found |= {(tp.topic, tp.partition) for tp in consumer.assignment()}
    return found


async def test_two_instances_racing_on_split_partitions_reserve_exactly_the_units_in_stock(
    orderflow_infrastructure: Infrastructure,
) -> None:
    infrastructure = orderflow_infrastructure
    prefix = unique_prefix("oversell")
    await create_service_topics(infrastructure, prefix)
    sku = new_sku("LAST")
    orders_topic = prefix + topics.ORDERS

    applied_by: dict[str, int] = {"a": 0, "b": 0}
    partitions_by: dict[str, set[int]] = {"a": set(), "b": set()}

    def counting(name: str) -> RuntimeHooks:
        hooks = RuntimeHooks()

        async def after_commit(records: Sequence[ConsumerRecord]) -> None:
            for record in records:
                if record.topic == orders_topic:
                    applied_by[name] += 1
                    partitions_by[name].add(record.partition)

        hooks.consumer.after_commit = after_commit
        return hooks

    # Same schema, same consumer group, small batches: the two interleave on the stock rows.
    settings = service_settings(
        infrastructure, "fulfillment", topic_prefix=prefix, consumer_max_records=3
    )
    clock = SettableClock()
    watcher = Watcher(infrastructure.kafka_bootstrap_servers, prefix, [topics.FULFILLMENT])
    await watcher.start()
    try:
        async with (
            running_service(
                build_definition(settings, clock=clock, fulfillment=fast_settings()),
                settings,
                counting("a"),
            ) as instance_a,
            running_service(
                build_definition(settings, clock=clock, fulfillment=fast_settings()),
                settings,
                counting("b"),
            ) as instance_b,
        ):
            eu, us = await two_warehouses(infrastructure, sku)

            async def settled() -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
                return await _assigned_partitions(instance_a), await _assigned_partitions(
                    instance_b
                )

            split = await eventually(
                settled,
                lambda ab: (
                    {p for t, p in ab[0] if t == orders_topic}
                    | {p for t, p in ab[1] if t == orders_topic}
                    == {0, 1, 2}
                    and all(any(t == orders_topic for t, _ in side) for side in ab)
                ),
                timeout_s=60,
            )
            a_parts = {p for t, p in split[0] if t == orders_topic}
            b_parts = {p for t, p in split[1] if t == orders_topic}
            assert a_parts, split
            assert b_parts, split
            assert not a_parts & b_parts, split

            order_ids = [uuid.uuid4() for _ in range(40)]
            envelopes = [
                Envelope.wrap(
                    order_placed(order_id, {sku: 1}, "DE" if i % 2 else "US"),
                    producer="cart",
                    correlation_id=f"journey-{order_id.hex[:8]}",
                )
                for i, order_id in enumerate(order_ids)
            ]
            started = time.perf_counter()
            await publish_envelopes(infrastructure, prefix, envelopes)

            wanted = set(order_ids)

            async def outcomes() -> tuple[list[StockReserved], list[StockUnavailable]]:
                reserved = [e for e in watcher.events(StockReserved) if e.order_id in wanted]
                short = [e for e in watcher.events(StockUnavailable) if e.order_id in wanted]
                return reserved, short

            reserved, short = await eventually(
                outcomes, lambda rs: len(rs[0]) + len(rs[1]) >= len(order_ids), timeout_s=60
            )
            elapsed = time.perf_counter() - started
            final = await levels(instance_a, sku)
    finally:
        await watcher.stop()

    print(
        f"\n40 orders for {UNITS} units on 2 instances: {len(reserved)} reserved, "
        f"{len(short)} unavailable in {elapsed:.2f}s; records applied per instance {applied_by}, "
        f"partitions {partitions_by}"
    )
    assert len(reserved) == UNITS
    assert len(short) == 40 - UNITS
    assert len({e.order_id for e in reserved} | {e.order_id for e in short}) == 40
    assert all(s.short_lines[0].available == 0 for s in short)
    held: dict[str, int] = {}
    for event in reserved:
        for allocation in event.allocations:
            held[allocation.warehouse_id] = held.get(allocation.warehouse_id, 0) + 1
    assert held == {eu: EU_UNITS, us: US_UNITS}
    assert final == {eu: (EU_UNITS, EU_UNITS), us: (US_UNITS, US_UNITS)}
    assert applied_by["a"] > 0, "both instances took orders"
    assert applied_by["b"] > 0, "both instances took orders"
    assert applied_by["a"] + applied_by["b"] == 40

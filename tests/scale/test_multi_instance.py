"""Two instances of every service against one broker and one database, under a storefront's
load, while an instance is stopped and restarted, the database is lost for a few seconds, and
each relay leader is SIGKILLed and restarted.

Proves: every checked-out cart ends as exactly one completed or cancelled order; no effect is
applied twice (payment ledger, stock movements, once-only events); each producer's events of an
order keep their order on every topic; every instance recovers from the database outage by
itself (none the test did not end is a new process); a relay lease moves only away from an
instance that was stopped or killed, or whose session the outage ended (so one relay publishes
per service at a time: publishing is fenced by the lease, see decision 20); ``orderflow-ops
check`` passes; and PostgreSQL detected no deadlock in the run's database. Prints how long
each killed instance's partitions stalled.

Runs only when selected (a few minutes on two cores): ``make test-multi-instance``, i.e.
``pytest -m multi_instance``, or ORDERFLOW_MULTI_INSTANCE=1.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.leftover_topics import delete_test_topics
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.bench.load import stock_everything
from orderflow_ops.bench.runner import invariant_check
from orderflow_ops.event_log import LoggedEvent, contract_topics, read_log
from orderflow_ops.storefront import PaymentTokens, ShopperMix, StorefrontSimulator
from orderflow_ops.traffic import catalog

from tests.support.fleet import (
    Fleet,
    Instance,
    LeaseWatch,
    broker_min_session_ms,
    database_outage,
    deadlocks,
    leader_pid,
    seconds_until_group_has,
    wait_for_leader,
)
from tests.support.service_harness import unique_prefix
from tests.support.system_harness import events_of, unfinished

pytestmark = [pytest.mark.multi_instance, pytest.mark.e2e, pytest.mark.integration]

INSTANCES = 2
SHOPPERS = 120
SHOPPERS_PER_SECOND = 4.0
OUTAGE_S = 3.0
SESSION_MS = 2000  # unless the broker's group.min.session.timeout.ms is higher
TOKENS = PaymentTokens(
    card_approved="tok_visa_approve",
    card_declined="tok_visa_decline_insufficient_funds",
    paypal_approved="tok_paypal_approve",
)
ONCE_PER_ORDER = ("OrderPlaced", "PaymentAuthorized", "PaymentCaptured", "OrderCompleted")


@pytest.fixture(autouse=True)
def only_when_selected(request: pytest.FixtureRequest) -> None:
    markexpr = str(request.config.getoption("-m", default="") or "")
    if "multi_instance" not in markexpr and os.environ.get("ORDERFLOW_MULTI_INSTANCE") != "1":
        pytest.skip("a few minutes long: run with -m multi_instance (make test-multi-instance)")


@pytest.fixture
async def fleet(orderflow_infrastructure: Infrastructure, tmp_path: Path) -> AsyncIterator[Fleet]:
    session_ms = max(
        SESSION_MS, await broker_min_session_ms(orderflow_infrastructure.kafka_bootstrap_servers)
    )
    env = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    for service in DEFAULT_SERVICES:
        env[f"{service.upper()}_CONSUMER_SESSION_TIMEOUT_MS"] = str(session_ms)
        env[f"{service.upper()}_CONSUMER_HEARTBEAT_INTERVAL_MS"] = str(session_ms // 6)
    async with isolated_database(orderflow_infrastructure, "multi") as own:
        fleet = Fleet(own, unique_prefix("multi"), tmp_path, INSTANCES, env)
        try:
            await asyncio.to_thread(fleet.start)
            yield fleet
        finally:
            await asyncio.to_thread(fleet.stop_all)
            prefix = re.compile("^" + re.escape(fleet.prefix))
            await delete_test_topics(orderflow_infrastructure.kafka_bootstrap_servers, prefix)


def group_of(fleet: Fleet, service: str) -> str:
    return f"{fleet.prefix}orderflow.{service}.events"


async def settled(fleet: Fleet, service: str) -> None:
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    await seconds_until_group_has(bootstrap, group_of(fleet, service), INSTANCES)


async def kill_and_measure(fleet: Fleet, victim: Instance) -> float:
    """SIGKILL ``victim``; how long until its group carries on without it (the stall)."""
    await settled(fleet, victim.service)
    await asyncio.to_thread(fleet.kill, victim)
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    return await seconds_until_group_has(bootstrap, group_of(fleet, victim.service), INSTANCES - 1)


async def wait_until_finished(fleet: Fleet, shop: StorefrontSimulator) -> list[LoggedEvent]:
    topics = contract_topics(fleet.prefix)
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    for _ in range(600):  # polls of 1 s: generous on a shared two-core machine
        log = await read_log(bootstrap, topics)
        if shop.counts.journeys == SHOPPERS and not unfinished(log, shop.counts.our_carts):
            return log
        await asyncio.sleep(1)
    left = unfinished(log, shop.counts.our_carts)
    raise AssertionError(f"{len(left)} carts unfinished, e.g. {left[:3]}\n{fleet.logs()}")


def order_violations(log: list[LoggedEvent]) -> list[str]:
    """Per topic partition, each producer's events of one aggregate in increasing sequence
    (an equal sequence only for a re-publication of the same event)."""
    last: dict[tuple[str, int, str, str], tuple[int, str]] = {}
    problems = []
    for entry in sorted(log, key=lambda e: (e.topic, e.partition, e.offset)):
        envelope = entry.envelope
        if envelope is None or entry.dead_letter or envelope.sequence is None:
            continue
        key = (entry.topic, entry.partition, envelope.producer, envelope.aggregate_id)
        seen = last.get(key)
        current = (envelope.sequence, str(envelope.event_id))
        if seen is not None and (
            current[0] < seen[0] or (current[0] == seen[0] and current[1] != seen[1])
        ):
            problems.append(f"{key}: sequence {current[0]} after {seen[0]}")
        last[key] = max(seen, current) if seen else current
    return problems


def duplicated_events(log: list[LoggedEvent]) -> list[str]:
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in log:
        envelope = entry.envelope
        if (
            envelope is not None
            and not entry.dead_letter
            and "order_id" in envelope.data
            and envelope.event_type in ONCE_PER_ORDER
        ):
            key = (envelope.event_type, str(envelope.data["order_id"]))
            ids[key].add(str(envelope.event_id))
    return [
        f"{kind} x{len(found)} for {order}"
        for (kind, order), found in ids.items()
        if len(found) > 1
    ]


async def duplicated_effects(admin_url: str) -> list[str]:
    connection = await asyncpg.connect(admin_url)
    try:
        ledger = await connection.fetch(
            """
            SELECT order_id, kind, count(*) AS n FROM payment.ledger_transactions
            WHERE kind IN ('authorisation', 'capture') GROUP BY order_id, kind HAVING count(*) > 1
            """
        )
        movements = await connection.fetch(
            """
            SELECT reference, warehouse_id, sku, count(*) AS n FROM fulfillment.stock_movements
            WHERE kind = 'dispatch' GROUP BY reference, warehouse_id, sku HAVING count(*) > 1
            """
        )
    finally:
        await connection.close()
    return [f"ledger {dict(r)}" for r in ledger] + [f"stock {dict(r)}" for r in movements]


def takeovers_from_live_leaders(
    fleet: Fleet, watch: LeaseWatch, outage_began: float | None
) -> list[str]:
    """Lease changes away from a leader this test had not stopped or killed by then. The
    database outage ended every leader's session: after it, one change per service is due."""
    wrong = []
    moved_after_outage: set[str] = set()
    for at, service, previous, new in watch.changes:
        pid = leader_pid(previous)
        if pid is None:
            continue  # the first leader of the run
        if outage_began is not None and at >= outage_began and service not in moved_after_outage:
            moved_after_outage.add(service)
            continue
        ended = fleet.ended_at.get(pid)
        if ended is None or ended > at:
            wrong.append(f"{service}: {previous} -> {new} while {previous} ran")
    return wrong


async def test_two_instances_of_every_service_survive_stops_and_kills(
    fleet: Fleet, orderflow_infrastructure: Infrastructure
) -> None:
    infrastructure = fleet.infrastructure
    bootstrap = infrastructure.kafka_bootstrap_servers
    deadlocks_before = await deadlocks(infrastructure.admin_database_url)
    watch = LeaseWatch(infrastructure.admin_database_url, DEFAULT_SERVICES)
    watch.start()
    warehouse = WarehouseSimulator(
        bootstrap,
        topic_prefix=fleet.prefix,
        config=SimulatorConfig(dispatch_delay_s=0.2, delivery_delay_s=0.3, receive_returns=False),
    )
    stop_shopping = asyncio.Event()
    shopping: asyncio.Task[None] | None = None
    stalls: dict[str, float] = {}
    outage_began: float | None = None
    try:
        await warehouse.start()
        fulfillment_url = fleet.first("fulfillment").process.base_url
        stocked = set(await stock_everything(warehouse, fulfillment_url, 100_000))
        products = [
            p for p in await catalog(fleet.first("cart").process.base_url) if p.sku in stocked
        ]
        shop = StorefrontSimulator(
            bootstrap,
            products,
            TOKENS,
            topic_prefix=fleet.prefix,
            mix=ShopperMix(abandon=0.0, returns=0.0, warranty_claims=0.0, declined_card=0.1),
            seed=15,
        )
        shopping = asyncio.create_task(
            shop.run(stop_shopping, shoppers_per_second=SHOPPERS_PER_SECOND, max_shoppers=SHOPPERS)
        )
        for _ in range(600):  # orders flow before anything is disturbed
            if shop.counts.checkouts >= 10:
                break
            await asyncio.sleep(0.5)

        # A rolling restart: SIGTERM (it leaves the group at once), then back.
        rolled = fleet.of("fulfillment")[-1]
        await asyncio.to_thread(fleet.stop, rolled)
        await asyncio.to_thread(fleet.restart, rolled)
        # The database lost for a few seconds: every instance carries on by itself.
        pids = {i.label: i.pid for i in fleet.instances}
        own_database = urlsplit(infrastructure.admin_database_url).path.lstrip("/")
        server = orderflow_infrastructure.admin_database_url  # another database, same server
        async with database_outage(server, own_database) as outage_began:
            await asyncio.sleep(OUTAGE_S)
        # A machine failure of each relay leader: SIGKILL, its partitions stall, it comes back.
        for service in ("payment", "fulfillment", "cart"):
            victim = await wait_for_leader(watch, fleet, service)
            stalls[service] = await kill_and_measure(fleet, victim)
            await asyncio.to_thread(fleet.restart, victim)

        log = await wait_until_finished(fleet, shop)
        # Recovered by themselves: every instance the test did not stop or kill still runs as
        # the process it was before the outage.
        untouched = [i for i in fleet.instances if pids[i.label] not in fleet.ended_at]
        assert [(i.label, i.pid) for i in untouched] == [
            (i.label, pids[i.label]) for i in untouched
        ]
    finally:
        stop_shopping.set()
        if shopping is not None:
            await shopping
        await warehouse.stop()
        await watch.stop()

    print(  # the figures this run measured, for the report
        "\nstall after SIGKILL (s): "
        + ", ".join(f"{service} {seconds:.1f}" for service, seconds in stalls.items())
        + f"; lease changes: {[(s, p, n) for _, s, p, n in watch.changes]}"
    )
    orders = {
        e.data["order_id"]
        for cart in shop.counts.our_carts
        for e in events_of(log, "CartCheckedOut", cart_id=cart)
    }
    assert shop.counts.checkouts == SHOPPERS
    assert len(orders) == SHOPPERS, "every checked-out cart is exactly one order"
    assert duplicated_events(log) == []
    assert await duplicated_effects(infrastructure.admin_database_url) == []
    assert order_violations(log) == []
    assert takeovers_from_live_leaders(fleet, watch, outage_began) == []
    check = await invariant_check(
        infrastructure, fleet.prefix, fleet.first("fulfillment").process.base_url, fleet.log_dir
    )
    assert check["ok"], "\n".join(check["output_tail"])
    # Stopped, every session has flushed its statistics (the deadlock counter among them).
    await asyncio.to_thread(fleet.stop_all)
    assert await deadlocks(infrastructure.admin_database_url) == deadlocks_before
    assert fleet.log_lines_containing("eadlock") == []

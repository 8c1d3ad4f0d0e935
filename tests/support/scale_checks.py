"""The shared shape of a scale-out test: shoppers and a warehouse on a fleet while something
goes wrong, then what the run must prove from the event log, the services' tables and the
relay leases: every cart finished as one order, nothing applied twice, each aggregate's events
in order, no relay lease taken from a leader that still ran, the invariants, no deadlock."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.bench.end_checks import invariant_check
from orderflow_ops.bench.load import stock_everything
from orderflow_ops.event_log import LoggedEvent, contract_topics, read_log
from orderflow_ops.storefront import PaymentTokens, ShopperMix, StorefrontSimulator
from orderflow_ops.traffic import catalog

from tests.support.fleet import Fleet, LeaseWatch, deadlocks, leader_pid
from tests.support.system_harness import events_of, unfinished

TOKENS = PaymentTokens(
    card_approved="tok_visa_approve",
    card_declined="tok_visa_decline_insufficient_funds",
    paypal_approved="tok_paypal_approve",
)


def session_environment(session_ms: int) -> dict[str, str]:
    """Every service's settings for a fleet whose killed instances are noticed quickly."""
    env = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    for service in DEFAULT_SERVICES:
        env[f"{service.upper()}_CONSUMER_SESSION_TIMEOUT_MS"] = str(session_ms)
        env[f"{service.upper()}_CONSUMER_HEARTBEAT_INTERVAL_MS"] = str(session_ms // 6)
    return env


@asynccontextmanager
async def shoppers_on(
    fleet: Fleet, *, shoppers: int, per_second: float
) -> AsyncIterator[StorefrontSimulator]:
    """``shoppers`` journeys published at ``per_second`` (checkouts, one in ten declined, no
    abandons or returns), with a warehouse that ships and delivers at once; stopped on exit."""
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    warehouse = WarehouseSimulator(
        bootstrap,
        topic_prefix=fleet.prefix,
        config=SimulatorConfig(dispatch_delay_s=0.2, delivery_delay_s=0.3, receive_returns=False),
    )
    stop_shopping = asyncio.Event()
    shopping: asyncio.Task[None] | None = None
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
            shop.run(stop_shopping, shoppers_per_second=per_second, max_shoppers=shoppers)
        )
        yield shop
    finally:
        stop_shopping.set()
        if shopping is not None:
            await shopping
        await warehouse.stop()


async def until_checkouts(shop: StorefrontSimulator, count: int) -> None:
    """Wait (five minutes at most) until ``count`` carts were checked out."""
    for _ in range(600):
        if shop.counts.checkouts >= count:
            return
        await asyncio.sleep(0.5)


async def assert_a_clean_run(
    fleet: Fleet,
    shop: StorefrontSimulator,
    log: list[LoggedEvent],
    *,
    shoppers: int,
    takeovers: list[str],
    deadlocks_before: int,
) -> None:
    """What every scale-out run must end with; stops the fleet (to read its deadlock count)."""
    infrastructure = fleet.infrastructure
    orders = {
        e.data["order_id"]
        for cart in shop.counts.our_carts
        for e in events_of(log, "CartCheckedOut", cart_id=cart)
    }
    # A support module is not rewritten by pytest: each assertion says what it found.
    assert shop.counts.checkouts == shoppers, (shop.counts.checkouts, shoppers)
    assert len(orders) == shoppers, f"every checked-out cart is exactly one order: {len(orders)}"
    duplicated = duplicated_events(log)
    assert duplicated == [], duplicated
    effects = await duplicated_effects(infrastructure.admin_database_url)
    assert effects == [], effects
    out_of_order = order_violations(log)
    assert out_of_order == [], out_of_order
    assert takeovers == [], takeovers
    check = await invariant_check(
        infrastructure, fleet.prefix, fleet.first("fulfillment").process.base_url, fleet.log_dir
    )
    assert check["ok"], "\n".join(check["output_tail"])
    # Stopped, every session has flushed its statistics (the deadlock counter among them).
    await asyncio.to_thread(fleet.stop_all)
    deadlocks_after = await deadlocks(infrastructure.admin_database_url)
    assert deadlocks_after == deadlocks_before, f"{deadlocks_after - deadlocks_before} deadlock(s)"
    assert fleet.log_lines_containing("eadlock") == []


ONCE_PER_ORDER = ("OrderPlaced", "PaymentAuthorized", "PaymentCaptured", "OrderCompleted")


async def wait_until_finished(
    fleet: Fleet, shop: StorefrontSimulator, shoppers: int
) -> list[LoggedEvent]:
    """The run's event log once all ``shoppers`` journeys were published and every cart
    finished (fails with the services' logs after ten minutes)."""
    topics = contract_topics(fleet.prefix)
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    for _ in range(600):  # polls of 1 s: generous on a shared two-core machine
        log = await read_log(bootstrap, topics)
        if shop.counts.journeys == shoppers and not unfinished(log, shop.counts.our_carts):
            return log
        await asyncio.sleep(1)
    left = unfinished(log, shop.counts.our_carts)
    raise AssertionError(f"{len(left)} carts unfinished, e.g. {left[:3]}\n{fleet.logs()}")


def order_violations(log: list[LoggedEvent]) -> list[str]:
    """Per topic partition, each producer's events of one aggregate in increasing sequence, as
    a consumer sees them: a re-publication of an event already on the partition (same event
    id; a relay that lost its lease, a producer retrying) is a duplicate it drops, not a
    reordering. A new event at or below the highest sequence seen is one."""
    highest: dict[tuple[str, int, str, str], int] = {}
    published: set[tuple[str, int, str]] = set()
    problems = []
    for entry in sorted(log, key=lambda e: (e.topic, e.partition, e.offset)):
        envelope = entry.envelope
        if envelope is None or entry.dead_letter or envelope.sequence is None:
            continue
        key = (entry.topic, entry.partition, envelope.producer, envelope.aggregate_id)
        event = (entry.topic, entry.partition, str(envelope.event_id))
        if event in published:
            continue
        published.add(event)
        if key in highest and envelope.sequence <= highest[key]:
            problems.append(f"{key}: sequence {envelope.sequence} after {highest[key]}")
        highest[key] = max(envelope.sequence, highest.get(key, envelope.sequence))
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
    """Lease changes away from a leader this test had not stopped or killed by then. After
    ``outage_began`` one change per service is due: a database outage ends every leader's
    session, and a broker outage longer than a wave's bound makes a leader that cannot start a
    producer stop leading (decision 64)."""
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

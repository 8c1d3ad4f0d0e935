"""What a scale-out test proves once the run is over, from the event log, the services'
tables and the relay leases: every cart finished, nothing applied twice, each aggregate's
events in order, and no relay lease taken from a leader that still ran."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import asyncpg
from orderflow_ops.event_log import LoggedEvent, contract_topics, read_log
from orderflow_ops.storefront import StorefrontSimulator

from tests.support.fleet import Fleet, LeaseWatch, leader_pid
from tests.support.system_harness import unfinished

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

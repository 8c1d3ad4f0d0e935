"""SIGKILL a service in the middle of a stream of orders, restart it, and account for every
order: each checked-out cart ends completed or cancelled, and the invariants still hold.

These are the chassis' delivery guarantees (shared/chassis/README.md) under fire: the killed
process loses whatever was in flight between its database commit and its offset commit, or
between publishing and stamping its outbox.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources

import pytest
from orderflow_fulfillment.simulator import WarehouseSimulator
from orderflow_ops.event_log import LoggedEvent
from orderflow_ops.invariants import render
from orderflow_ops.storefront import PaymentTokens, Product, ShopperMix, StorefrontSimulator

from tests.support.storefront_actions import make_available
from tests.support.system_harness import RunningSystem, events_of, unfinished

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration]

SHOPPERS = 40
TOKENS = PaymentTokens(
    card_approved="tok_visa_approve",
    card_declined="tok_visa_decline_insufficient_funds",
    paypal_approved="tok_paypal_approve",
)


def catalog() -> list[Product]:
    text = (resources.files("orderflow_cart") / "data" / "catalog.csv").read_text()
    return [
        Product(row["sku"], Decimal(row["price_usd"])) for row in csv.DictReader(text.splitlines())
    ]


@pytest.fixture(scope="module", autouse=True)
async def stocked(running_system: RunningSystem, warehouse: WarehouseSimulator) -> None:
    for product in catalog():
        await make_available(
            running_system, product.sku, {"US-EAST": 60, "EU-CENTRAL": 60, "AP-SOUTHEAST": 60}
        )


def describe(log: list[LoggedEvent], carts: list[str]) -> str:
    """What happened to each unfinished cart (dead letters marked), for the failure message."""
    lines = []
    for cart_id in carts[:5]:
        order_ids = {
            str(e.envelope.data["order_id"])
            for e in log
            if e.envelope
            and e.envelope.data.get("cart_id") == cart_id
            and "order_id" in e.envelope.data
        }
        seen = [
            e.envelope.event_type
            + (f"(DLQ {e.dead_letter.get('error_code')})" if e.dead_letter else "")
            for e in log
            if e.envelope
            and (
                e.envelope.aggregate_id == cart_id
                or str(e.envelope.data.get("order_id")) in order_ids
            )
        ]
        lines.append(f"{cart_id}: {seen}")
    return f"{len(carts)} unfinished; " + "; ".join(lines)


@pytest.mark.parametrize("victim", ["payment", "fulfillment", "cart"])
async def test_every_order_is_accounted_for_after_a_service_is_killed(
    running_system: RunningSystem, victim: str
) -> None:
    started = datetime.now(UTC)
    shop = StorefrontSimulator(
        running_system.infrastructure.kafka_bootstrap_servers,
        catalog(),
        TOKENS,
        topic_prefix=running_system.prefix,
        mix=ShopperMix(abandon=0.0, returns=0.0, warranty_claims=0.0, declined_card=0.15),
        seed=7,
    )
    stop = asyncio.Event()
    shopping = asyncio.create_task(shop.run(stop, shoppers_per_second=10, max_shoppers=SHOPPERS))

    # Kill the victim once orders are flowing, keep it down for a moment, bring it back.
    await running_system.wait_for(
        lambda log: len(events_of(log, "OrderPlaced")) >= 10, what="orders to flow"
    )
    running_system.kill(victim)
    await asyncio.sleep(2)
    await asyncio.to_thread(running_system.restart, victim)

    log = await running_system.wait_for(
        lambda log: shop.counts.journeys == SHOPPERS and not unfinished(log, shop.counts.our_carts),
        timeout_s=180,
        what="every order to finish",
        explain=lambda log: describe(log, unfinished(log, shop.counts.our_carts)),
    )
    stop.set()
    await shopping

    assert shop.counts.checkouts == SHOPPERS
    orders = {
        e.data["order_id"]
        for c in shop.counts.our_carts
        for e in events_of(log, "CartCheckedOut", cart_id=c)
    }
    assert len(orders) == SHOPPERS, "every checked-out cart is exactly one order"
    report = await running_system.invariants()
    assert report.ok, render(report)
    # Every order here has finished, so none is "in flight": no settling time.
    reconcile = await asyncio.to_thread(
        subprocess.run,
        [
            *(sys.executable, "-m", "orderflow_payment", "reconcile"),
            *("--since", started.isoformat(), "--settle-s", "0"),
        ],
        env={
            **os.environ,
            "PAYMENT_DATABASE_URL": running_system.infrastructure.service_database_urls["payment"],
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr

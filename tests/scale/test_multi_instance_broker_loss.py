"""Two instances of every service lose their only Kafka broker for about ten seconds in the
middle of a storefront's load; the broker comes back and nobody restarts any instance.

Proves: every checked-out cart ends as exactly one completed or cancelled order; no effect is
applied twice (payment ledger, stock movements, once-only events); each producer's events of an
order keep their order on every topic; every instance recovers by itself (each is still the
process it was before the loss); no relay lease moves away from a running leader (the
database stayed up, so one relay per service published throughout); ``orderflow-ops check``
passes; PostgreSQL detected no deadlock. Prints how long the flow took to finish after the
broker came back.

The broker is a private one this test starts, SIGKILLs and starts again (its data kept, as a
machine that reboots); the database is a fresh one of its own. The shared broker is never
touched. Runs only when selected, with the other scale-out test: ``make test-multi-instance``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.kafka import KafkaBroker
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.bench.load import stock_everything
from orderflow_ops.bench.runner import invariant_check
from orderflow_ops.storefront import PaymentTokens, ShopperMix, StorefrontSimulator
from orderflow_ops.traffic import catalog

from tests.support.fleet import Fleet, LeaseWatch, deadlocks
from tests.support.private_kafka import kill_broker, private_broker
from tests.support.scale_checks import (
    duplicated_effects,
    duplicated_events,
    order_violations,
    takeovers_from_live_leaders,
    wait_until_finished,
)
from tests.support.service_harness import unique_prefix
from tests.support.system_harness import events_of

pytestmark = [pytest.mark.multi_instance, pytest.mark.e2e, pytest.mark.integration]

INSTANCES = 2
SHOPPERS = 40
SHOPPERS_PER_SECOND = 4.0
CHECKOUTS_BEFORE_THE_LOSS = 10
BROKER_DOWN_S = 10.0
SESSION_MS = 2000  # the private broker allows sessions down to 1 s
BROKER_START_GUARD_S = 240.0  # a guard against a hang on a loaded machine, not a measurement
TOKENS = PaymentTokens(
    card_approved="tok_visa_approve",
    card_declined="tok_visa_decline_insufficient_funds",
    paypal_approved="tok_paypal_approve",
)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    # Three partitions per topic, as on the shared development broker, so two instances share
    # the work; 4 for consumer offsets (not 50): a restart after SIGKILL recovers every log.
    with private_broker(
        tmp_path / "kafka",
        timeout=BROKER_START_GUARD_S,
        num_partitions=3,
        offsets_topic_partitions=4,
    ) as broker:
        yield broker


@pytest.fixture
async def fleet(
    orderflow_infrastructure: Infrastructure, own_broker: KafkaBroker, tmp_path: Path
) -> AsyncIterator[Fleet]:
    env = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    for service in DEFAULT_SERVICES:
        env[f"{service.upper()}_CONSUMER_SESSION_TIMEOUT_MS"] = str(SESSION_MS)
        env[f"{service.upper()}_CONSUMER_HEARTBEAT_INTERVAL_MS"] = str(SESSION_MS // 6)
    async with isolated_database(orderflow_infrastructure, "broker_loss") as own_database:
        infrastructure = dataclasses.replace(
            own_database, kafka_bootstrap_servers=own_broker.settings.bootstrap_servers
        )
        fleet = Fleet(infrastructure, unique_prefix("broker-loss"), tmp_path, INSTANCES, env)
        try:
            await asyncio.to_thread(fleet.start)
            yield fleet
        finally:
            await asyncio.to_thread(fleet.stop_all)


async def test_two_instances_of_every_service_ride_out_the_loss_of_the_broker(
    fleet: Fleet, own_broker: KafkaBroker
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
        for _ in range(600):  # orders flow before the broker goes
            if shop.counts.checkouts >= CHECKOUTS_BEFORE_THE_LOSS:
                break
            await asyncio.sleep(0.5)
        pids = {i.label: i.pid for i in fleet.instances}

        # The broker's machine is lost: no controlled shutdown, every connection dropped.
        await asyncio.to_thread(kill_broker, own_broker)
        checkouts_at_the_loss = shop.counts.checkouts
        await asyncio.sleep(BROKER_DOWN_S)
        restarting_at = time.monotonic()
        await asyncio.to_thread(own_broker.start, timeout=BROKER_START_GUARD_S)
        back_at = time.monotonic()

        log = await wait_until_finished(fleet, shop, SHOPPERS)
        finished_after_s = time.monotonic() - back_at
        # Recovered by themselves: every instance is still the process it was before the loss.
        assert {i.label: i.pid for i in fleet.instances} == pids, fleet.logs()
    finally:
        stop_shopping.set()
        if shopping is not None:
            await shopping
        await warehouse.stop()
        await watch.stop()

    print(  # the figures this run measured, for the report
        f"\nbroker lost after {checkouts_at_the_loss} checkout(s), down {BROKER_DOWN_S:.0f} s "
        f"plus {back_at - restarting_at:.1f} s to start again; all {SHOPPERS} carts finished "
        f"{finished_after_s:.1f} s after it was back; "
        f"lease changes: {[(s, p, n) for _, s, p, n in watch.changes]}"
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
    # No instance was stopped and the database stayed up: no lease may move at all.
    assert takeovers_from_live_leaders(fleet, watch, outage_began=None) == []
    check = await invariant_check(
        infrastructure, fleet.prefix, fleet.first("fulfillment").process.base_url, fleet.log_dir
    )
    assert check["ok"], "\n".join(check["output_tail"])
    # Stopped, every session has flushed its statistics (the deadlock counter among them).
    await asyncio.to_thread(fleet.stop_all)
    assert await deadlocks(infrastructure.admin_database_url) == deadlocks_before
    assert fleet.log_lines_containing("eadlock") == []

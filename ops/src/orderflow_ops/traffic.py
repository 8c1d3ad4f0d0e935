"""Traffic for a running system: a warehouse, shoppers, restocking, and a live view.

Everything here talks to the services the way outside systems do: the warehouse simulator
and the storefront simulator over the public Kafka contract, the product list through the
cart's read API, stock levels through fulfillment's read API. Nothing reads a service schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import httpx
import structlog
from aiokafka import AIOKafkaProducer
from orderflow_chassis.outbox import (
    PRODUCER_REQUEST_TIMEOUT_S,
    create_producer,
    start_producer,
    stop_producer,
)
from orderflow_chassis.waiting import cancel_and_wait, wait_at_most
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import StockCounted
from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from rich.console import Console
from rich.live import Live

from orderflow_ops.event_log import contract_topics
from orderflow_ops.progress import ProgressCounts, follow
from orderflow_ops.storefront import PaymentTokens, Product, StorefrontSimulator
from orderflow_ops.supervisor import GaveUp, RestartPolicy, Supervised, Supervisor

log = structlog.get_logger(__name__)

SANDBOX_TOKENS = PaymentTokens(
    card_approved="tok_visa_approve",
    card_declined="tok_visa_decline_insufficient_funds",
    paypal_approved="tok_paypal_approve",
)
RESTOCK_EVERY_S = 30.0
_GRACE_AT_STOP_S = 10.0
RESTOCK_BELOW = 20  # available units that trigger a supplier delivery
RESTOCK_UNITS = 200


@dataclass(frozen=True)
class TrafficOptions:
    first_port: int
    log_format: str
    shoppers_per_second: float
    warehouse_delay_s: float
    seed: int | None
    topic_prefix: str = ""  # KAFKA_TOPIC_PREFIX, as the services see it
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)


class Service(Protocol):
    name: str

    @property
    def base_url(self) -> str: ...

    def exit_code(self) -> int | None: ...

    def restart(self) -> None: ...

    def log_tail(self, lines: int = 15) -> str: ...


async def drive(
    infrastructure: Infrastructure,
    services: Sequence[Service],
    options: TrafficOptions,
    *,
    tasks_left_running: list[str] | None = None,
) -> int:
    """Run the traffic until SIGINT/SIGTERM (0) or until a service keeps crashing (1). The
    tasks it gave up stopping are added to ``tasks_left_running`` (see ``run_to_the_end``)."""
    given_up = tasks_left_running if tasks_left_running is not None else []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bootstrap = infrastructure.kafka_bootstrap_servers
    prefix = options.topic_prefix
    by_name = {service.name: service for service in services}
    counts = ProgressCounts(restarts=dict.fromkeys(by_name, 0))
    supervisor = supervise(services, counts, options.restart_policy)
    gave_up: list[GaveUp] = []
    tasks = [
        asyncio.create_task(follow(bootstrap, contract_topics(prefix), counts, stop=stop)),
        asyncio.create_task(_supervise(supervisor, stop, gave_up)),
        asyncio.create_task(_show(counts, stop)),
    ]
    warehouse: WarehouseSimulator | None = None
    if options.shoppers_per_second > 0:
        delay = options.warehouse_delay_s
        warehouse = WarehouseSimulator(
            bootstrap,
            topic_prefix=prefix,
            config=SimulatorConfig(
                dispatch_delay_s=delay, delivery_delay_s=delay, return_delay_s=delay
            ),
        )
        await warehouse.start()
        products = await catalog(by_name["cart"].base_url)
        shop = StorefrontSimulator(
            bootstrap, products, SANDBOX_TOKENS, topic_prefix=prefix, seed=options.seed
        )
        tasks.append(
            asyncio.create_task(shop.run(stop, shoppers_per_second=options.shoppers_per_second))
        )
        fulfillment_url = by_name["fulfillment"].base_url
        tasks.append(asyncio.create_task(_restock(bootstrap, prefix, fulfillment_url, stop)))
    try:
        await stop.wait()
    finally:
        stop.set()
        # Each task ends on its own once told to stop; one held by Kafka (a send an idempotent
        # producer retries for ever) is cancelled after a grace, and the stop goes on.
        await asyncio.wait(tasks, timeout=_GRACE_AT_STOP_S)
        left = await cancel_and_wait(tasks, bound_s=_GRACE_AT_STOP_S)
        if left:
            log.error("traffic.tasks_would_not_stop", tasks=left)
            given_up += left
        if warehouse is not None:
            await warehouse.stop()
            given_up += warehouse.tasks_left_running
        print(f"final counts: {counts.one_line() or 'no events'}", flush=True)
    for failure in gave_up:
        print(f"orderflow: {failure.reason}; last lines of its log:", file=sys.stderr)
        print(by_name[failure.service.name].log_tail(), file=sys.stderr)
    return 1 if gave_up else 0


def supervise(
    services: Sequence[Service], counts: ProgressCounts, policy: RestartPolicy
) -> Supervisor:
    """A supervisor that says what it does on stderr and counts restarts in the progress."""

    def crashed(service: Supervised, exit_code: int | None, delay_s: float) -> None:
        print(
            f"orderflow: {service.name} exited with {exit_code}; restarting in {delay_s:g}s",
            file=sys.stderr,
            flush=True,
        )

    def restarted(service: Supervised, restarts: int) -> None:
        counts.restarts[service.name] = restarts
        print(f"orderflow: {service.name} restarted (restart {restarts})", file=sys.stderr)

    return Supervisor(services, policy, on_crash=crashed, on_restart=restarted)


async def catalog(cart_url: str) -> list[Product]:
    """The products on sale, as the storefront gets them: from the cart's read API."""
    async with httpx.AsyncClient(base_url=cart_url, timeout=10) as client:
        response = await client.get("/catalog", params={"currency": "USD"})
        response.raise_for_status()
        return [
            Product(item["sku"], Decimal(item["price"]["amount"]))
            for item in response.json()["products"]
        ]


async def _supervise(supervisor: Supervisor, stop: asyncio.Event, gave_up: list[GaveUp]) -> None:
    """Restart services that die; stop everything when one keeps crashing."""
    while not stop.is_set():
        failure = supervisor.poll()
        if failure is not None:
            gave_up.append(failure)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await wait_at_most(0.5, stop.wait())


async def _show(counts: ProgressCounts, stop: asyncio.Event) -> None:
    """A live table on a terminal; a progress line every few seconds otherwise (logs, CI)."""
    if sys.stdout.isatty():
        with Live(counts.table(), console=Console(), refresh_per_second=2) as live:
            while not stop.is_set():
                live.update(counts.table())
                with contextlib.suppress(TimeoutError):
                    await wait_at_most(0.5, stop.wait())
        return
    last = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await wait_at_most(1, stop.wait())
        if time.monotonic() - last >= 10:
            print(f"progress: {counts.one_line() or 'waiting for events'}", flush=True)
            last = time.monotonic()


async def _restock(bootstrap: str, prefix: str, fulfillment_url: str, stop: asyncio.Event) -> None:
    """Play the supplier: when a warehouse runs low on a SKU, it receives a delivery and
    reports its new count (StockCounted), so a long demo does not end in 'out of stock'."""
    producer = create_producer(bootstrap, client_id="restocker")
    await start_producer(producer, timeout_s=PRODUCER_REQUEST_TIMEOUT_S)
    try:
        async with httpx.AsyncClient(base_url=fulfillment_url, timeout=10) as client:
            while not stop.is_set():
                try:
                    await _restock_once(client, producer, prefix)
                except (httpx.HTTPError, OSError) as error:
                    log.warning("restock.failed", error=str(error))
                with contextlib.suppress(TimeoutError):
                    await wait_at_most(RESTOCK_EVERY_S, stop.wait())
    finally:
        await stop_producer(producer, flush_s=_GRACE_AT_STOP_S)


async def _restock_once(client: httpx.AsyncClient, producer: AIOKafkaProducer, prefix: str) -> None:
    levels = (await client.get("/stock")).json()
    for level in levels:
        if level["available"] >= RESTOCK_BELOW:
            continue
        counted = StockCounted(
            warehouse_id=level["warehouse_id"],
            sku=level["sku"],
            on_hand=level["on_hand"] + RESTOCK_UNITS,
            counted_at=datetime.now(UTC),
        )
        envelope = Envelope.wrap(counted, producer="warehouse", correlation_id="restock")
        await producer.send_and_wait(
            prefix + StockCounted.topic, envelope.to_bytes(), key=envelope.aggregate_id.encode()
        )

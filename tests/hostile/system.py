"""The four services in one process, on one topic prefix, with valid customer journeys.

Shared by the fuzzer and the database fault tests: start everything, publish valid journeys
(stock, carts, checkouts) that flow through the whole saga, wait until every consumer has
caught up with its topics, and read back the end state.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from orderflow_cart.bootstrap import build_definition as cart_definition
from orderflow_chassis.errors import is_transient
from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CardSummary,
    CartCurrencySelected,
    CartItemAdded,
    CheckoutRequested,
    Event,
    PaymentInput,
    ShippingAddressInput,
    StockCounted,
)
from orderflow_fulfillment.bootstrap import build_definition as fulfillment_definition
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_payment.bootstrap import build_definition as payment_definition
from orderflow_returns.bootstrap import build_definition as returns_definition

from tests.support.kafka_tools import create_topics, end_offsets, eventually
from tests.support.service_harness import running_service, service_settings

VALID_CORRELATION = "valid-journey-"
"""Every valid journey's correlation id starts so; services pass it on to what they emit."""

SKU = "MB-SPIKY-8CM"
WAREHOUSE = "US-EAST"
APPROVE, DECLINE = "tok_visa_approve", "tok_visa_decline_insufficient_funds"

_BUILDERS: dict[str, Callable[[ServiceSettings], ServiceDefinition]] = {
    "cart": cart_definition,
    "payment": payment_definition,
    "fulfillment": fulfillment_definition,
    "returns": returns_definition,
}


@dataclass(frozen=True)
class ConsumerInfo:
    service: str
    group_id: str
    topics: tuple[str, ...]  # contract names
    handled_types: frozenset[str]


@dataclass
class FourServices:
    infrastructure: Infrastructure
    prefix: str
    runtimes: dict[str, ServiceRuntime] = field(default_factory=dict)

    @property
    def kafka(self) -> str:
        return self.infrastructure.kafka_bootstrap_servers

    def consumers(self) -> list[ConsumerInfo]:
        return [
            ConsumerInfo(
                service,
                consumer.group_id,
                tuple(consumer.subscription.topics),
                frozenset(cls.event_type for cls in consumer.subscription.handlers),
            )
            for service, runtime in self.runtimes.items()
            for consumer in runtime.consumers
        ]

    async def lagging_partitions(self) -> dict[tuple[str, str, int], tuple[int, int]]:
        """Every (consumer, topic, partition) whose committed position is behind the end of
        the partition as it is now: {key: (position, end)}. Empty when all caught up."""
        behind: dict[tuple[str, str, int], tuple[int, int]] = {}
        for service, runtime in self.runtimes.items():
            rows = await self._positions(service, runtime)
            positions = {(r["consumer"], r["topic"], r["kafka_partition"]): r for r in rows}
            for consumer in runtime.consumers:
                names = [self.prefix + t for t in consumer.subscription.topics]
                partitions = [
                    TopicPartition(name, number)
                    for name, numbers in (await topic_partitions(self.kafka, names)).items()
                    for number in numbers
                ]
                for tp, end in (await end_offsets(self.kafka, partitions)).items():
                    row = positions.get((consumer.group_id, tp.topic, tp.partition))
                    position = row["next_offset"] if row else 0
                    if position < end:
                        behind[(consumer.group_id, tp.topic, tp.partition)] = (position, end)
        return behind

    @staticmethod
    async def _positions(service: str, runtime: ServiceRuntime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await _read_through_faults(
            runtime.pool.fetch,
            f"SELECT consumer, topic, kafka_partition, next_offset "
            f"FROM {service}.consumer_positions",
        )
        return rows

    async def wait_caught_up(self, timeout_s: float) -> dict[tuple[str, str, int], tuple[int, int]]:
        """Wait until no partition lags; returns what still lags at the deadline."""
        return await eventually(self.lagging_partitions, lambda b: not b, timeout_s=timeout_s)

    async def settle(
        self, timeout_s: float
    ) -> tuple[dict[tuple[str, str, int], tuple[int, int]], int]:
        """Wait until every outbox is sent and no partition lags, found twice a second apart
        (what a relay publishes last starts more work, and a consumer caught up with a topic
        its upstream relay has not published to yet is not done). Returns what still lags,
        and how many outbox rows are unsent, at the deadline."""
        deadline = time.monotonic() + timeout_s
        quiet_before = False
        while True:
            lagging = await self.wait_caught_up(max(0.0, deadline - time.monotonic()))
            unsent = await self.unsent_outbox_rows()
            quiet = not lagging and unsent == 0
            if (quiet and quiet_before) or time.monotonic() >= deadline:
                return lagging, unsent
            quiet_before = quiet
            await asyncio.sleep(1)

    async def unsent_outbox_rows(self) -> int:
        total = 0
        for service, runtime in self.runtimes.items():
            total += await _read_through_faults(
                runtime.pool.fetchval,
                f"SELECT count(*) FROM {service}.outbox WHERE sent_at IS NULL",
            )
        return total


async def _read_through_faults(read: Callable[[str], Awaitable[Any]], query: str) -> Any:
    """``read(query)``, again when a fault test killed or cancelled the reading session: the
    probes share the pool the faults hit, and their own hiccup says nothing about the run."""
    while True:
        try:
            return await read(query)
        except Exception as error:
            if not is_transient(error):
                raise
            await asyncio.sleep(0.05)


def fast_settings(infrastructure: Infrastructure, service: str, prefix: str) -> ServiceSettings:
    return service_settings(
        infrastructure,
        service,
        topic_prefix=prefix,
        consumer_retry_initial_delay_s=0.05,
        consumer_retry_max_delay_s=0.5,
    )


@asynccontextmanager
async def four_services(infrastructure: Infrastructure, prefix: str) -> AsyncIterator[FourServices]:
    """The four services on the run's own topics (``prefix``) and in a database of their own:
    a job of this run never sees rows an earlier run left (``isolated_database``)."""
    await create_topics(
        infrastructure.kafka_bootstrap_servers, [prefix + t for t in topics.ALL_TOPICS]
    )
    async with AsyncExitStack() as stack:
        infrastructure = await stack.enter_async_context(isolated_database(infrastructure, prefix))
        system = FourServices(infrastructure, prefix)
        for service, build in _BUILDERS.items():
            settings = fast_settings(infrastructure, service, prefix)
            definition: ServiceDefinition = build(settings)
            system.runtimes[service] = await stack.enter_async_context(
                running_service(definition, settings)
            )
        await _wait_for_seeded_warehouse(system.runtimes["fulfillment"])
        yield system


async def _wait_for_seeded_warehouse(fulfillment: ServiceRuntime) -> None:
    """Fulfillment loads its warehouses in the background; a count before that is refused."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fulfillment.http_port}") as http:

        async def warehouses() -> set[str]:
            levels: list[dict[str, Any]] = (await http.get("/stock", params={"sku": SKU})).json()
            return {level["warehouse_id"] for level in levels}

        found = await eventually(warehouses, lambda w: WAREHOUSE in w, timeout_s=30)
    assert WAREHOUSE in found, f"fulfillment never loaded {WAREHOUSE}: {found}"


# ---------------------------------------------------------------- valid journeys


@dataclass(frozen=True)
class Journey:
    cart_id: str
    approved: bool
    envelopes: tuple[Envelope, ...]

    @property
    def correlation_id(self) -> str:
        return self.envelopes[0].correlation_id


def journey(number: int, run: str) -> Journey:
    cart_id = f"cart-{run}-{number}"
    approved = number % 4 != 3  # one in four is declined: the compensation path runs too
    events: list[Event] = [
        CartItemAdded(cart_id=cart_id, sku=SKU, quantity=1),
        CartCurrencySelected(cart_id=cart_id, currency="USD"),
        CheckoutRequested(
            cart_id=cart_id,
            customer_id=f"cust-{run}",
            email="ada@example.com",
            shipping_address=ShippingAddressInput(
                recipient_name="Ada Lovelace",
                line1="500 Congress Ave",
                city="Austin",
                postal_code="78701",
                region="TX",
                country="US",
            ),
            payment=PaymentInput(
                method="visa",
                provider_token=APPROVE if approved else DECLINE,
                card=CardSummary(brand="visa", last4="4242", expiry_month=12, expiry_year=2030),
            ),
        ),
    ]
    correlation = f"{VALID_CORRELATION}{run}-{number}"
    envelopes = tuple(
        Envelope.wrap(event, producer="storefront", correlation_id=correlation, sequence=n)
        for n, event in enumerate(events, start=1)
    )
    return Journey(cart_id, approved, envelopes)


def stock_count(run: str) -> Envelope:
    """Plenty of the journeys' SKU, counted now (a count replaces the on-hand figure)."""
    return Envelope.wrap(
        StockCounted(
            warehouse_id=WAREHOUSE, sku=SKU, on_hand=1_000_000, counted_at=datetime.now(UTC)
        ),
        producer="warehouse",
        correlation_id=f"{VALID_CORRELATION}{run}-stock",
    )


async def publish_valid(
    producer: AIOKafkaProducer, prefix: str, envelopes: Sequence[Envelope]
) -> None:
    for envelope in envelopes:
        await producer.send_and_wait(
            prefix + type(envelope.parse_event()).topic,
            envelope.to_bytes(),
            key=envelope.key,
        )


def new_run_id() -> str:
    return uuid.uuid4().hex[:10]

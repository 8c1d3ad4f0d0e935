"""Driving a running fulfillment service as its neighbours would: the cart and payment
services and a warehouse publish events; the test watches what fulfillment publishes.

Stock lives in the shared ``fulfillment`` schema, so every test invents its own warehouses
and SKUs (unique names): reservations of one test never see another's stock.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from orderflow_chassis.clock import SettableClock, SystemClock
from orderflow_chassis.database import create_pool
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_chassis.unit_of_work import DatabaseTransactions
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    Event,
    LineQuantity,
    OrderCancelled,
    OrderPlaced,
    ParcelDelivered,
    ParcelDispatched,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnedLine,
    ReturnParcelReceived,
    StockCounted,
)
from orderflow_fulfillment.adapters.repositories import sql_repositories
from orderflow_fulfillment.domain.stock_file import StockFile, WarehouseEntry
from orderflow_fulfillment.handlers.stock_loads import load_stock
from orderflow_localinfra.discovery import Infrastructure

# Re-exported: the integration tests build events with the unit tests' builders.
from services.fulfillment.tests.builders import address as address
from services.fulfillment.tests.builders import eur as eur
from services.fulfillment.tests.builders import order_placed as order_placed
from tests.support.kafka_tools import create_topics, eventually
from tests.support.service_harness import publish_envelopes

E = TypeVar("E", bound=Event)

SCHEMA = "fulfillment"
ALL_TOPICS = (
    topics.ORDERS,
    topics.PAYMENTS,
    topics.FULFILLMENT,
    topics.WAREHOUSE_EVENTS,
    topics.RETURNS,
)


def tag() -> str:
    return uuid.uuid4().hex[:8].upper()


def new_sku(label: str) -> str:
    return f"T{tag()}-{label}"


class Watcher:
    """Reads the test's output topics from the beginning, continuously, into memory."""

    def __init__(self, bootstrap: str, prefix: str, watched: Iterable[str]) -> None:
        self._consumer = AIOKafkaConsumer(
            *(prefix + t for t in watched),
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=500,
        )
        self.envelopes: list[Envelope] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                self.envelopes.extend(Envelope.from_bytes(r.value) for r in records)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await stop_consumer(self._consumer)

    def events(self, kind: type[E], *, order_id: uuid.UUID | None = None) -> list[E]:
        found = []
        for envelope in list(self.envelopes):
            if envelope.event_type != kind.event_type:
                continue
            event = envelope.parse_event()
            assert isinstance(event, kind)
            if order_id is None or getattr(event, "order_id", None) == order_id:
                found.append(event)
        return found

    def envelopes_for(self, order_id: uuid.UUID) -> list[Envelope]:
        return [e for e in list(self.envelopes) if e.aggregate_id == str(order_id)]


@dataclass
class Flow:
    infrastructure: Infrastructure
    prefix: str
    runtime: ServiceRuntime
    clock: SettableClock
    watcher: Watcher
    producer_names: dict[type[Event], str] = field(
        default_factory=lambda: {
            OrderPlaced: "cart",
            OrderCancelled: "cart",
            PaymentCaptured: "payment",
            PaymentDeclined: "payment",
            PaymentVoided: "payment",
            ReturnAuthorized: "returns",
            ReplacementRequested: "returns",
        }
    )

    # ------------------------------------------------------------------------- stock

    async def warehouse(
        self, label: str, country: str, stock: Mapping[str, int], near: Iterable[str] = ()
    ) -> str:
        warehouse_id = f"T{tag()}-{label}"
        await load_warehouses(
            self.infrastructure,
            [
                WarehouseEntry(
                    id=warehouse_id, name=label, country=country, near=list(near), stock=dict(stock)
                )
            ],
        )
        return warehouse_id

    async def level(self, warehouse_id: str, sku: str) -> tuple[int, int]:
        row = await self.runtime.pool.fetchrow(
            f"SELECT on_hand, reserved FROM {SCHEMA}.stock WHERE warehouse_id = $1 AND sku = $2",
            warehouse_id,
            sku,
        )
        assert row is not None, f"no stock row {warehouse_id}/{sku}"
        return row["on_hand"], row["reserved"]

    async def anomalies(self, **where: Any) -> list[dict[str, Any]]:
        conditions = " AND ".join(f"{column} = ${i}" for i, column in enumerate(where, start=1))
        rows = await self.runtime.pool.fetch(
            f"SELECT * FROM {SCHEMA}.anomalies WHERE {conditions} ORDER BY id", *where.values()
        )
        return [dict(r) for r in rows]

    async def shipment_statuses(self, order_id: uuid.UUID) -> dict[uuid.UUID, str]:
        rows = await self.runtime.pool.fetch(
            f"SELECT shipment_id, status FROM {SCHEMA}.shipments WHERE order_id = $1", order_id
        )
        return {r["shipment_id"]: r["status"] for r in rows}

    # ----------------------------------------------------------------------- publish

    async def publish(self, *events: Event, producer: str | None = None) -> list[Envelope]:
        envelopes = [
            Envelope.wrap(
                event,
                producer=producer or self.producer_names.get(type(event), "warehouse-test"),
                correlation_id=f"journey-{event.aggregate_id[:8]}",
            )
            for event in events
        ]
        await publish_envelopes(self.infrastructure, self.prefix, envelopes)
        return envelopes

    async def place_order(self, lines: Mapping[str, int], country: str = "DE") -> uuid.UUID:
        order_id = uuid.uuid4()
        await self.publish(order_placed(order_id, lines, country))
        return order_id

    async def capture(self, order_id: uuid.UUID) -> None:
        await self.publish(
            PaymentCaptured(
                order_id=order_id,
                payment_id=uuid.uuid4(),
                amount=eur("10.00"),
                provider="sandbox",
                provider_reference=f"cap_{order_id.hex[:8]}",
            )
        )

    async def decline(self, order_id: uuid.UUID) -> None:
        await self.publish(
            PaymentDeclined(
                order_id=order_id,
                payment_id=uuid.uuid4(),
                amount=eur("10.00"),
                reason_code="insufficient_funds",
                message="The card was declined.",
                provider="sandbox",
            )
        )

    async def dispatch(
        self, shipment_id: uuid.UUID, warehouse_id: str, tracking: str = "TRACK-1", **extra: Any
    ) -> None:
        await self.publish(
            ParcelDispatched(
                shipment_id=shipment_id,
                warehouse_id=warehouse_id,
                carrier="DHL",
                tracking_number=tracking,
                dispatched_at=extra.get("at", datetime.now(UTC)),
            ),
            producer=warehouse_id,
        )

    async def deliver(self, shipment_id: uuid.UUID, **extra: Any) -> None:
        await self.publish(
            ParcelDelivered(
                shipment_id=shipment_id, delivered_at=extra.get("at", datetime.now(UTC))
            )
        )

    async def authorize_return(
        self, order_id: uuid.UUID, lines: Mapping[str, int], rma_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        rma_id = rma_id or uuid.uuid4()
        await self.publish(
            ReturnAuthorized(
                order_id=order_id,
                rma_id=rma_id,
                return_request_id=f"rr-{rma_id.hex[:8]}",
                lines=[LineQuantity(sku=s, quantity=q) for s, q in lines.items()],
                return_by=datetime.now(UTC).date() + timedelta(days=30),
            )
        )
        # Applied before the caller goes on: the authorisation and the warehouse's parcel
        # travel on different topics, and a test of what follows must not race them (a parcel
        # read first is its own case, tested as such).
        await self.until(lambda: self._authorized(rma_id), bool)
        return rma_id

    async def _authorized(self, rma_id: uuid.UUID) -> bool:
        return bool(
            await self.runtime.pool.fetchval(
                f"SELECT authorized_at IS NOT NULL FROM {SCHEMA}.rmas WHERE rma_id = $1", rma_id
            )
        )

    async def return_parcel(
        self,
        rma_id: uuid.UUID,
        warehouse_id: str,
        lines: list[tuple[str, int, str]],
        at: datetime | None = None,
    ) -> None:
        await self.publish(
            ReturnParcelReceived(
                rma_id=rma_id,
                warehouse_id=warehouse_id,
                lines=[
                    ReturnedLine(sku=sku, quantity=q, condition=c)  # type: ignore[arg-type]
                    for sku, q, c in lines
                ],
                received_at=at or datetime.now(UTC),
            ),
            producer=warehouse_id,
        )

    async def count(self, warehouse_id: str, sku: str, on_hand: int, at: datetime) -> None:
        await self.publish(
            StockCounted(warehouse_id=warehouse_id, sku=sku, on_hand=on_hand, counted_at=at),
            producer=warehouse_id,
        )

    # -------------------------------------------------------------------------- wait

    async def wait_for(
        self, kind: type[E], order_id: uuid.UUID, count: int = 1, timeout_s: float = 30
    ) -> list[E]:
        """The order's events of ``kind`` once at least ``count`` arrived (assert the count)."""

        async def probe() -> list[E]:
            return self.watcher.events(kind, order_id=order_id)

        return await eventually(probe, lambda found: len(found) >= count, timeout_s=timeout_s)

    async def until(self, probe: Callable[[], Any], accept: Callable[[Any], bool]) -> Any:
        return await eventually(probe, accept)


async def load_warehouses(infrastructure: Infrastructure, entries: list[WarehouseEntry]) -> None:
    """Load warehouses and figures as ``orderflow-fulfillment stock load`` would."""
    pool = await create_pool(
        infrastructure.service_database_urls[SCHEMA],
        schema=SCHEMA,
        application_name="fulfillment-test-stock",
        min_size=1,
        max_size=1,
    )
    transactions = DatabaseTransactions(
        pool, sql_repositories(SCHEMA), Outbox(SCHEMA, producer="test"), SystemClock()
    )
    try:
        async with transactions.begin() as uow:
            await load_stock(StockFile(warehouses=entries), "test", uow)
    finally:
        await pool.close()


async def create_service_topics(infrastructure: Infrastructure, prefix: str) -> None:
    await create_topics(
        infrastructure.kafka_bootstrap_servers, [prefix + t for t in ALL_TOPICS], partitions=3
    )

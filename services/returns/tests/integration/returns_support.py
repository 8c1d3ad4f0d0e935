"""Integration-test support: the returns service running in-process against the real Kafka
and PostgreSQL (``ReturnsHarness``), and the upstream events the other services (cart,
payment, fulfillment, warehouses, the storefront) would publish about one order (``Order``),
built from the contract models."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from orderflow_chassis.clock import SettableClock
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    Event,
    OrderPlaced,
    PaymentCaptured,
    RefundFailed,
    RefundIssued,
    ReturnedLine,
    ReturnParcelReceived,
    ReturnRequested,
    ShipmentDelivered,
    WarrantyClaimFiled,
)
from orderflow_contracts.examples import example_data
from orderflow_localinfra.discovery import Infrastructure

from tests.support.kafka_tools import eventually

SUBSCRIBED = (
    topics.STOREFRONT_RETURNS,
    topics.ORDERS,
    topics.FULFILLMENT,
    topics.PAYMENTS,
    topics.WAREHOUSE_EVENTS,
)
PRODUCERS = {
    topics.STOREFRONT_RETURNS: "storefront",
    topics.ORDERS: "cart",
    topics.FULFILLMENT: "fulfillment",
    topics.PAYMENTS: "payment",
    topics.WAREHOUSE_EVENTS: "warehouse-eu-1",
}
START = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


@dataclass
class ReturnsHarness:
    infrastructure: Infrastructure
    prefix: str
    clock: SettableClock
    runtime: ServiceRuntime
    producer: AIOKafkaProducer
    published_kafka: list[Envelope] = field(default_factory=list)
    _positions: dict[tuple[str, int], int] = field(default_factory=dict)

    # ------------------------------------------------------------------ feeding

    async def publish(
        self,
        event: Event,
        *,
        occurred_at: datetime | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """Publish ``event`` as its upstream producer would (contract topic, keyed)."""
        envelope = Envelope.wrap(
            event,
            producer=PRODUCERS[type(event).topic],
            correlation_id=correlation_id or f"journey-{uuid.uuid4().hex[:8]}",
            occurred_at=occurred_at or self.clock.now(),
        )
        await self.republish(envelope)
        return envelope

    async def republish(self, envelope: Envelope) -> None:
        """Publish these exact bytes again (a redelivery: same event id)."""
        topic = type(envelope.parse_event()).topic
        await self.publish_value(topic, envelope.to_bytes(), envelope.aggregate_id.encode())

    async def publish_value(self, topic: str, value: bytes, key: bytes) -> None:
        """Publish ``value`` as it is on the contract ``topic`` (bytes a model cannot write)."""
        metadata = await self.producer.send_and_wait(self.prefix + topic, value, key=key)
        position = (self.prefix + topic, metadata.partition)
        self._positions[position] = max(self._positions.get(position, 0), metadata.offset + 1)

    async def processed(self) -> None:
        """Wait until the service applied (or skipped) everything published so far."""
        group = f"{self.prefix}orderflow.returns.events"

        async def behind() -> list[tuple[str, int]]:
            rows = await self.runtime.pool.fetch(
                "SELECT topic, kafka_partition, next_offset FROM returns.consumer_positions "
                "WHERE consumer = $1",
                group,
            )
            done = {(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}
            return [k for k, offset in self._positions.items() if done.get(k, 0) < offset]

        assert await eventually(behind, lambda lagging: not lagging) == []

    # ------------------------------------------------------------------ observing

    async def emitted(self, order_id: uuid.UUID, event_type: str | None = None) -> list[Any]:
        """Events the service emitted for an order (its outbox), oldest first, as models."""
        rows = await self.runtime.pool.fetch(
            "SELECT payload FROM returns.outbox WHERE message_key = $1 "
            "AND event_type <> 'DeadLetter' AND ($2::text IS NULL OR event_type = $2) "
            "ORDER BY id",
            str(order_id),
            event_type,
        )
        return [Envelope.from_bytes(bytes(r["payload"])).parse_event() for r in rows]

    async def wait_emitted(self, order_id: uuid.UUID, event_type: str, count: int = 1) -> list[Any]:
        events = await eventually(
            lambda: self.emitted(order_id, event_type), lambda found: len(found) >= count
        )
        assert len(events) == count, events
        return events

    async def on_kafka(self, order_id: uuid.UUID, count: int) -> list[Envelope]:
        """What actually reached the ``returns`` topic for an order (read from Kafka)."""
        consumer = AIOKafkaConsumer(
            self.prefix + topics.RETURNS,
            bootstrap_servers=self.infrastructure.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=500,
        )
        await consumer.start()
        found: list[Envelope] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while len(found) < count and loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    found += [
                        envelope
                        for record in records
                        if (envelope := Envelope.from_bytes(record.value)).aggregate_id
                        == str(order_id)
                    ]
        finally:
            await stop_consumer(consumer)
        return found

    async def rma(self, rma_id: uuid.UUID) -> dict[str, Any]:
        row = await self.runtime.pool.fetchrow(
            "SELECT * FROM returns.rmas WHERE rma_id = $1", rma_id
        )
        assert row is not None, f"no RMA {rma_id}"
        return dict(row)


class Order:
    """One customer's order and the upstream events about it."""

    def __init__(
        self,
        *,
        lines: Sequence[tuple[str, int, str]] = (
            ("MB-SPIKY-8CM", 2, "9.25"),
            ("NS-NIGHT-M", 1, "36.94"),
        ),
        shipping_fee: str = "4.99",
        country: str = "DE",
    ) -> None:
        self.order_id = uuid.uuid4()
        self.payment_id = uuid.uuid4()
        self.customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        self.lines = list(lines)
        self.shipping_fee = shipping_fee
        self.country = country

    @property
    def total(self) -> Decimal:
        return sum(
            (Decimal(price) * qty for _, qty, price in self.lines), Decimal(self.shipping_fee)
        )

    def placed(self) -> OrderPlaced:
        data = example_data("OrderPlaced")
        subtotal = sum((Decimal(price) * qty for _, qty, price in self.lines), Decimal(0))
        data.update(
            order_id=str(self.order_id),
            customer_id=self.customer_id,
            lines=[
                {
                    "sku": sku,
                    "name": f"Product {sku}",
                    "quantity": qty,
                    "unit_price": eur(price),
                    "line_total": eur(str(Decimal(price) * qty)),
                }
                for sku, qty, price in self.lines
            ],
            subtotal=eur(str(subtotal)),
            shipping_fee=eur(self.shipping_fee),
            total=eur(str(self.total)),
        )
        data["ship_to"]["country"] = self.country
        return OrderPlaced.model_validate(data)

    def captured(self) -> PaymentCaptured:
        return PaymentCaptured(
            order_id=self.order_id,
            payment_id=self.payment_id,
            amount=eur(str(self.total)),  # type: ignore[arg-type]
            provider="sandbox",
            provider_reference=f"cap_{uuid.uuid4().hex[:8]}",
        )

    def delivered(
        self, at: datetime, lines: Sequence[tuple[str, int]] | None = None, **extra: Any
    ) -> ShipmentDelivered:
        return ShipmentDelivered.model_validate(
            {
                "order_id": str(self.order_id),
                "shipment_id": str(uuid.uuid4()),
                "lines": [
                    {"sku": sku, "quantity": qty}
                    for sku, qty in (lines or [(sku, qty) for sku, qty, _ in self.lines])
                ],
                "delivered_at": at.isoformat(),
                **extra,
            }
        )

    def return_requested(
        self, lines: Sequence[tuple[str, int]], request_id: str | None = None, **extra: Any
    ) -> ReturnRequested:
        return ReturnRequested.model_validate(
            {
                "order_id": str(self.order_id),
                "return_request_id": request_id or f"ret-{uuid.uuid4().hex[:8]}",
                "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
                "reason": "Too hard for my feet",
                "customer_id": extra.get("customer_id", self.customer_id),
            }
        )

    @staticmethod
    def parcel(
        rma_id: uuid.UUID, lines: Sequence[tuple[str, int, str]], at: datetime
    ) -> ReturnParcelReceived:
        return ReturnParcelReceived(
            rma_id=rma_id,
            warehouse_id="EU-1",
            lines=[
                ReturnedLine(sku=sku, quantity=qty, condition=condition)  # type: ignore[arg-type]
                for sku, qty, condition in lines
            ],
            received_at=at,
        )

    def refund_issued(self, refund_id: uuid.UUID, amount: str, total: str) -> RefundIssued:
        return RefundIssued.model_validate(
            {
                "order_id": str(self.order_id),
                "refund_id": str(refund_id),
                "payment_id": str(self.payment_id),
                "amount": eur(amount),
                "total_refunded": eur(total),
                "provider": "sandbox",
                "provider_reference": f"ref_{uuid.uuid4().hex[:8]}",
            }
        )

    def refund_failed(self, refund_id: uuid.UUID, amount: str, code: str) -> RefundFailed:
        return RefundFailed.model_validate(
            {
                "order_id": str(self.order_id),
                "refund_id": str(refund_id),
                "amount": eur(amount),
                "reason_code": code,
                "message": "The provider refused the refund",
            }
        )

    def warranty_claim(
        self, sku: str, country: str, claim_id: str | None = None, quantity: int = 1
    ) -> WarrantyClaimFiled:
        return WarrantyClaimFiled(
            order_id=self.order_id,
            claim_id=claim_id or f"claim-{uuid.uuid4().hex[:8]}",
            sku=sku,
            quantity=quantity,
            country_of_usage=country,
            defect_description="The strap buckle broke",
            customer_id=self.customer_id,
        )

    async def shipped_and_delivered(self, harness: ReturnsHarness, at: datetime) -> None:
        await harness.publish(self.placed(), occurred_at=at - timedelta(days=3))
        await harness.publish(self.captured(), occurred_at=at - timedelta(days=3))
        await harness.publish(self.delivered(at), occurred_at=at)
        # Topics are read independently: let these facts land before the customer acts on
        # them (in production they come days earlier).
        await harness.processed()

"""Unit-test support for the returns use cases: one customer's order and the events about it
(``Order``), and the service's use cases over in-memory tables (``Returns``), each event
applied in its own unit of work, as the consumer would."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from orderflow_chassis.clock import SettableClock
from orderflow_chassis.testing import FakeTransactions, RecordingEmitter, envelope_of
from orderflow_chassis.wiring import inject
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    Event,
    LineQuantity,
    OrderPlaced,
    PaymentCaptured,
    RefundFailed,
    RefundIssued,
    ReturnAuthorized,
    ReturnedLine,
    ReturnParcelReceived,
    ReturnRequested,
    ShipmentDelivered,
    WarrantyClaimFiled,
)
from orderflow_contracts.examples import example_data
from orderflow_contracts.money import Money
from orderflow_contracts.policies import DEFAULT_WARRANTY_POLICY
from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.domain.window import ReturnWindow
from orderflow_returns.handlers.held_requests import BATCH, judge_due_requests
from orderflow_returns.handlers.order_facts import (
    record_order_placed,
    record_payment_captured,
    record_shipment_delivered,
)
from orderflow_returns.handlers.return_requests import request_return
from orderflow_returns.ports import ReturnsRepositories

from services.returns.tests.fake_tables import ReturnsTables
from services.returns.tests.fakes import FakeDeliveryReads, fake_transactions, tables_of

DELIVERED = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)
BALL, SPLINT = "MB-SPIKY-8CM", "NS-NIGHT-M"
POLICY = ReturnsPolicy(
    window=ReturnWindow(30),
    return_shipping_days=14,
    warranty=DEFAULT_WARRANTY_POLICY,  # the shipped table
)
DEPENDENCIES: dict[str, object] = {"policy": POLICY}

Handler = Callable[..., Awaitable[None]]


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


class Order:
    """One customer's order (2 balls at 9.25, 1 splint at 36.94, shipping 4.99: 60.43 EUR by
    default) and the upstream events about it."""

    def __init__(
        self,
        *,
        lines: Sequence[tuple[str, int, str]] = ((BALL, 2, "9.25"), (SPLINT, 1, "36.94")),
        shipping_fee: str = "4.99",
        country: str = "DE",
    ) -> None:
        self.order_id = uuid.uuid4()
        self.customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        self.lines = list(lines)
        self.shipping_fee = shipping_fee
        self.country = country

    @property
    def total(self) -> Decimal:
        subtotal = sum((Decimal(price) * qty for _, qty, price in self.lines), Decimal(0))
        return subtotal + Decimal(self.shipping_fee)

    def placed(self) -> OrderPlaced:
        data = example_data("OrderPlaced")
        data.update(
            order_id=str(self.order_id),
            customer_id=self.customer_id,
            lines=[
                {
                    "sku": sku,
                    "name": f"Product {sku}",
                    "quantity": qty,
                    "unit_price": {"amount": price, "currency": "EUR"},
                    "line_total": {"amount": str(Decimal(price) * qty), "currency": "EUR"},
                }
                for sku, qty, price in self.lines
            ],
            subtotal={"amount": str(self.total - Decimal(self.shipping_fee)), "currency": "EUR"},
            shipping_fee={"amount": self.shipping_fee, "currency": "EUR"},
            total={"amount": str(self.total), "currency": "EUR"},
        )
        data["ship_to"]["country"] = self.country
        return OrderPlaced.model_validate(data)

    def captured(self, amount: str | None = None) -> PaymentCaptured:
        return PaymentCaptured(
            order_id=self.order_id,
            payment_id=uuid.uuid4(),
            amount=eur(amount or str(self.total)),
            provider="sandbox",
            provider_reference=f"cap_{uuid.uuid4().hex[:8]}",
        )

    def delivered(
        self,
        at: datetime = DELIVERED,
        lines: Sequence[tuple[str, int]] | None = None,
        *,
        replacement: bool = False,
    ) -> ShipmentDelivered:
        shipped = lines or [(sku, qty) for sku, qty, _ in self.lines]
        return ShipmentDelivered(
            order_id=self.order_id,
            shipment_id=uuid.uuid4(),
            lines=[LineQuantity(sku=sku, quantity=qty) for sku, qty in shipped],
            delivered_at=at,
            replacement=replacement,
        )

    def return_requested(
        self, lines: Sequence[tuple[str, int]], request_id: str | None = None, **extra: Any
    ) -> ReturnRequested:
        return ReturnRequested(
            order_id=self.order_id,
            return_request_id=request_id or f"ret-{uuid.uuid4().hex[:8]}",
            lines=[LineQuantity(sku=sku, quantity=qty) for sku, qty in lines],
            reason="Too hard for my feet",
            customer_id=extra.get("customer_id", self.customer_id),
        )

    @staticmethod
    def parcel(
        rma_id: uuid.UUID, lines: Sequence[tuple[str, int, str]], at: datetime = DELIVERED
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

    def refund_issued(self, refund_id: uuid.UUID, amount: str) -> RefundIssued:
        return RefundIssued(
            order_id=self.order_id,
            refund_id=refund_id,
            payment_id=uuid.uuid4(),
            amount=eur(amount),
            total_refunded=eur(amount),
            provider="sandbox",
            provider_reference=f"ref_{uuid.uuid4().hex[:8]}",
        )

    def refund_failed(self, refund_id: uuid.UUID, amount: str, code: str) -> RefundFailed:
        return RefundFailed(
            order_id=self.order_id,
            refund_id=refund_id,
            amount=eur(amount),
            reason_code=code,
            message="The provider refused the refund",
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


class Returns:
    """The returns use cases over in-memory tables; the clock starts ``now``."""

    def __init__(
        self, now: datetime = DELIVERED + timedelta(days=5), *, policy: ReturnsPolicy = POLICY
    ) -> None:
        self.transactions: FakeTransactions[ReturnsRepositories] = fake_transactions(now)
        self.dependencies: dict[str, object] = {**DEPENDENCIES, "policy": policy}
        self.reads = FakeDeliveryReads(self.transactions)

    async def judge_due(self, policy: ReturnsPolicy, *, batch_size: int = BATCH) -> int:
        """A round of the job that judges held requests whose wait ended."""
        return await judge_due_requests(
            self.transactions, policy=policy, reads=self.reads, batch_size=batch_size
        )

    @property
    def clock(self) -> SettableClock:
        clock = self.transactions.clock
        assert isinstance(clock, SettableClock)
        return clock

    @property
    def tables(self) -> ReturnsTables:
        return tables_of(self.transactions)

    @property
    def emitted(self) -> RecordingEmitter:
        return self.transactions.emitted

    async def apply(
        self,
        handler: Handler,
        event: Event,
        *,
        at: datetime | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """``event`` (stamped ``at``, by default now) applied by ``handler``, bound to the
        service's dependencies as bootstrap binds it."""
        envelope = envelope_of(
            event, correlation_id=correlation_id, occurred_at=at or self.clock.now()
        )
        await inject(handler, self.dependencies)(event, self.transactions.unit(cause=envelope))
        return envelope

    async def know(self, order: Order, *, delivered_at: datetime = DELIVERED) -> None:
        """The order placed, captured and delivered, as the other services report it."""
        await self.apply(record_order_placed, order.placed(), at=delivered_at - timedelta(days=3))
        await self.apply(record_payment_captured, order.captured())
        await self.apply(record_shipment_delivered, order.delivered(delivered_at))

    async def authorise(
        self, order: Order, lines: Sequence[tuple[str, int]], request_id: str | None = None
    ) -> uuid.UUID:
        """A return of ``lines`` requested now and authorised: its RMA id."""
        before = len(self.emitted.of_type(ReturnAuthorized))
        await self.apply(request_return, order.return_requested(lines, request_id))
        authorised = self.emitted.of_type(ReturnAuthorized)
        assert len(authorised) == before + 1, self.emitted.events
        rma_id: uuid.UUID = authorised[-1].rma_id
        return rma_id

"""One order's events as the other services publish them, for the order-status tests.

``OrderJourney`` builds the events of one order (EUR, shipped to Germany, two lines) with
fresh ids; ``envelopes`` wraps them with increasing ``occurred_at`` times, as their producers
would, so tests can publish them in any order and still know which fact happened when.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCheckedOut,
    Event,
    FulfillmentRequested,
    OrderCancelled,
    OrderCompleted,
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    RefundIssued,
    RefundRequested,
    ReplacementRequested,
    ReturnAuthorized,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
    StockUnavailable,
    WarrantyClaimAccepted,
)
from orderflow_contracts.money import Money

E = TypeVar("E", bound=Event)


def build(event_type: type[E], **data: Any) -> E:
    """An event from plain data, validated as a consumer would (nested models from dicts)."""
    return event_type.model_validate(data)


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADDRESS = {
    "recipient_name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}
LINES = (
    ("MB-SPIKY-8CM", "Spiky massage ball 8 cm", 2, "9.19"),
    ("NS-ADJ-L", "Adjustable night splint L", 1, "32.31"),  # the seed catalog's, in EUR
)


def eur(amount: str | Decimal) -> Money:
    return Money.of(amount, "EUR")


@dataclass
class OrderJourney:
    """The ids of one order and builders of the events about it."""

    label: str = "order"
    order_id: UUID = field(default_factory=uuid.uuid4)
    payment_id: UUID = field(default_factory=uuid.uuid4)
    shipments: tuple[UUID, UUID] = field(default_factory=lambda: (uuid.uuid4(), uuid.uuid4()))
    replacement_shipment_id: UUID = field(default_factory=uuid.uuid4)
    rma_id: UUID = field(default_factory=uuid.uuid4)
    refund_id: UUID = field(default_factory=uuid.uuid4)

    @property
    def cart_id(self) -> str:
        return f"cart-{self.label}-{self.order_id.hex[:8]}"

    @property
    def customer_id(self) -> str:
        return f"customer-{self.label}-{self.order_id.hex[:8]}"

    @property
    def total(self) -> Money:
        return eur(sum((Decimal(price) * qty for _, _, qty, price in LINES), Decimal(0)))

    def placed(self, *, customer_id: str | None = None) -> OrderPlaced:
        lines = [
            {
                "sku": sku,
                "name": name,
                "quantity": qty,
                "unit_price": eur(price),
                "line_total": eur(Decimal(price) * qty),
            }
            for sku, name, qty, price in LINES
        ]
        return OrderPlaced.model_validate(
            {
                "order_id": self.order_id,
                "cart_id": self.cart_id,
                "customer_id": customer_id or self.customer_id,
                "email": "ada@example.com",
                "lines": lines,
                "currency": "EUR",
                "subtotal": self.total,
                "shipping_fee": eur("0.00"),
                "total": self.total,
                "base_subtotal": Money.of("54.67", "USD"),
                "fx": {
                    "base_currency": "USD",
                    "quote_currency": "EUR",
                    "rate": "0.9235",
                    "as_of": "2026-03-01T16:00:00Z",
                    "source": "seed-file",
                },
                "ship_to": ADDRESS,
                "payment": {
                    "method": "visa",
                    "provider_token": "tok_visa_approve",
                    "card": {
                        "brand": "visa",
                        "last4": "4242",
                        "expiry_month": 12,
                        "expiry_year": 2030,
                    },
                },
            }
        )

    def checked_out(self) -> CartCheckedOut:
        return build(
            CartCheckedOut,
            cart_id=self.cart_id,
            order_id=self.order_id,
            customer_id=self.customer_id,
        )

    def authorized(self) -> PaymentAuthorized:
        return build(
            PaymentAuthorized,
            order_id=self.order_id,
            payment_id=self.payment_id,
            amount=self.total,
            method="visa",
            provider="sandbox",
            provider_reference="auth-1",
        )

    def declined(self) -> PaymentDeclined:
        return build(
            PaymentDeclined,
            order_id=self.order_id,
            payment_id=self.payment_id,
            amount=self.total,
            reason_code="insufficient_funds",
            message="The card was declined: insufficient funds.",
            provider="sandbox",
        )

    def cancelled(self, reason: str, message: str) -> OrderCancelled:
        return build(OrderCancelled, order_id=self.order_id, reason=reason, message=message)

    def reserved(self, *, split: bool = False) -> StockReserved:
        (sku1, _, q1, _), (sku2, _, q2, _) = LINES
        return build(
            StockReserved,
            order_id=self.order_id,
            allocations=[
                {"warehouse_id": "wh-berlin", "sku": sku1, "quantity": q1},
                {
                    "warehouse_id": "wh-hamburg" if split else "wh-berlin",
                    "sku": sku2,
                    "quantity": q2,
                },
            ],
        )

    def unavailable(self) -> StockUnavailable:
        return build(
            StockUnavailable,
            order_id=self.order_id,
            short_lines=[{"sku": LINES[1][0], "requested": 1, "available": 0}],
        )

    def voided(self, reason: str) -> PaymentVoided:
        return build(
            PaymentVoided,
            order_id=self.order_id,
            payment_id=self.payment_id,
            amount=self.total,
            reason=reason,
            provider="sandbox",
        )

    def captured(self) -> PaymentCaptured:
        return build(
            PaymentCaptured,
            order_id=self.order_id,
            payment_id=self.payment_id,
            amount=self.total,
            provider="sandbox",
            provider_reference="capture-1",
        )

    def requested(self, index: int, *, split: bool = False) -> FulfillmentRequested:
        lines = [{"sku": s, "name": n, "quantity": q} for s, n, q, _ in LINES]
        if split:
            lines = [lines[index]]
        return build(
            FulfillmentRequested,
            order_id=self.order_id,
            shipment_id=self.shipments[index],
            warehouse_id="wh-hamburg" if index else "wh-berlin",
            lines=lines,
            ship_to=ADDRESS,
            shipping_service="standard",
        )

    def dispatched(self, index: int) -> ShipmentDispatched:
        return build(
            ShipmentDispatched,
            order_id=self.order_id,
            shipment_id=self.shipments[index],
            warehouse_id="wh-hamburg" if index else "wh-berlin",
            carrier="DHL",
            tracking_number=f"JD0146000038{index}",
            dispatched_at=T0 + timedelta(hours=2 + index),
        )

    def delivered(self, index: int, *, split: bool = False) -> ShipmentDelivered:
        chosen = [LINES[index]] if split else list(LINES)
        return build(
            ShipmentDelivered,
            order_id=self.order_id,
            shipment_id=self.shipments[index],
            lines=[{"sku": s, "quantity": q} for s, _, q, _ in chosen],
            delivered_at=T0 + timedelta(days=2, hours=index),
        )

    def completed(self) -> OrderCompleted:
        return build(OrderCompleted, order_id=self.order_id)

    def return_authorized(self, request_id: str = "return-1") -> ReturnAuthorized:
        return build(
            ReturnAuthorized,
            order_id=self.order_id,
            rma_id=self.rma_id,
            return_request_id=request_id,
            lines=[{"sku": LINES[0][0], "quantity": 1}],
            return_by=(T0 + timedelta(days=14)).date(),  # authorised on T0's day (envelopes)
        )

    def refund_requested(self) -> RefundRequested:
        return build(
            RefundRequested,
            order_id=self.order_id,
            refund_id=self.refund_id,
            rma_id=self.rma_id,
            amount=eur(LINES[0][3]),
            lines=[{"sku": LINES[0][0], "quantity": 1, "amount": eur(LINES[0][3])}],
            shipping_refund=eur("0.00"),
        )

    def refund_issued(self) -> RefundIssued:
        return build(
            RefundIssued,
            order_id=self.order_id,
            refund_id=self.refund_id,
            payment_id=self.payment_id,
            amount=eur(LINES[0][3]),
            total_refunded=eur(LINES[0][3]),
            rma_id=self.rma_id,
            provider="sandbox",
            provider_reference="refund-1",
        )

    def claim_accepted(self, claim_id: str = "claim-1") -> WarrantyClaimAccepted:
        return build(
            WarrantyClaimAccepted,
            order_id=self.order_id,
            claim_id=claim_id,
            sku=LINES[1][0],
            quantity=1,
            country_of_usage="DE",
            warranty_ends_on=(T0 + timedelta(days=2)).date().replace(year=2028),
        )

    def replacement_requested(self, claim_id: str = "claim-1") -> ReplacementRequested:
        return build(
            ReplacementRequested,
            order_id=self.order_id,
            claim_id=claim_id,
            lines=[{"sku": LINES[1][0], "quantity": 1}],
            ship_to=ADDRESS,
        )

    def replacement_shipment(self, claim_id: str = "claim-1") -> list[Event]:
        sku, name, _, _ = LINES[1]
        return [
            build(
                FulfillmentRequested,
                order_id=self.order_id,
                shipment_id=self.replacement_shipment_id,
                warehouse_id="wh-berlin",
                lines=[{"sku": sku, "name": name, "quantity": 1}],
                ship_to=ADDRESS,
                shipping_service="standard",
                replacement=True,
                warranty_claim_id=claim_id,
            ),
            build(
                ShipmentDispatched,
                order_id=self.order_id,
                shipment_id=self.replacement_shipment_id,
                warehouse_id="wh-berlin",
                carrier="DHL",
                tracking_number="JD0146000099",
                dispatched_at=T0 + timedelta(days=60),
            ),
            build(
                ShipmentDelivered,
                order_id=self.order_id,
                shipment_id=self.replacement_shipment_id,
                lines=[{"sku": sku, "quantity": 1}],
                delivered_at=T0 + timedelta(days=61),
                replacement=True,
            ),
        ]

    # ------------------------------------------------------------------- whole journeys

    def happy_path(self) -> list[Event]:
        return [
            self.placed(),
            self.checked_out(),
            self.authorized(),
            self.reserved(),
            self.captured(),
            self.requested(0),
            self.dispatched(0),
            self.delivered(0),
            self.completed(),
        ]

    def split_shipment(self) -> list[Event]:
        return [
            self.placed(),
            self.authorized(),
            self.reserved(split=True),
            self.captured(),
            self.requested(0, split=True),
            self.requested(1, split=True),
            self.dispatched(0),
            self.delivered(0, split=True),
            self.dispatched(1),
            self.delivered(1, split=True),
            self.completed(),
        ]

    def everything(self) -> list[Event]:
        """A split shipment, a partial return refunded, a warranty replacement."""
        return [
            *self.split_shipment(),
            self.checked_out(),
            self.return_authorized(),
            self.refund_requested(),
            self.refund_issued(),
            self.claim_accepted(),
            self.replacement_requested(),
            *self.replacement_shipment(),
        ]


def envelopes(events: Sequence[Event], *, start: datetime = T0) -> list[Envelope]:
    """The events wrapped as their producers would, a minute apart, in the given order."""
    return [
        Envelope.wrap(
            event,
            producer="test",
            correlation_id=f"journey-{event.aggregate_id}",
            occurred_at=start + timedelta(minutes=index),
        )
        for index, event in enumerate(events)
    ]

"""Events fulfillment consumes, as its neighbours would publish them (valid, minimal)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from orderflow_contracts.events import (
    FxSnapshot,
    LineQuantity,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    ParcelDelivered,
    ParcelDispatched,
    PaymentCaptured,
    PaymentDeclined,
    PaymentMethodRef,
    PaymentVoided,
    PostalAddress,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnedLine,
    ReturnParcelReceived,
    StockCounted,
)
from orderflow_contracts.money import Currency, Money

ADDRESSES = {
    "DE": ("Unter den Linden 1", "Berlin", "10117"),
    "FR": ("1 rue de Rivoli", "Paris", "75001"),
    "US": ("1 Main Street", "Columbus", "43004"),
    "JP": ("1-1 Marunouchi", "Tokyo", "100-0005"),
    "BR": ("Avenida Paulista 1", "Sao Paulo", "01310-000"),
}

WAREHOUSE_TIME = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def address(country: str) -> PostalAddress:
    line1, city, postal = ADDRESSES[country]
    return PostalAddress(
        recipient_name="Ada Lovelace", line1=line1, city=city, postal_code=postal, country=country
    )


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def order_placed(order_id: uuid.UUID, lines: Mapping[str, int], country: str) -> OrderPlaced:
    order_lines = [
        OrderLine(
            sku=sku,
            name=f"Product {sku}",
            quantity=quantity,
            unit_price=eur("10.00"),
            line_total=eur(f"{10 * quantity}.00"),
        )
        for sku, quantity in lines.items()
    ]
    subtotal = eur(f"{10 * sum(lines.values())}.00")
    return OrderPlaced(
        order_id=order_id,
        cart_id=f"cart-{order_id.hex[:8]}",
        customer_id="cust-7",
        email="ada@example.com",
        lines=order_lines,
        currency=Currency.of("EUR"),
        subtotal=subtotal,
        shipping_fee=eur("0.00"),
        total=subtotal,
        base_subtotal=Money.of(f"{11 * sum(lines.values())}.00", "USD"),
        fx=FxSnapshot(
            base_currency=Currency.of("USD"),
            quote_currency=Currency.of("EUR"),
            rate=Decimal("0.9100"),
            as_of=datetime(2025, 1, 31, tzinfo=UTC),
            source="seed-file",
        ),
        ship_to=address(country),
        payment=PaymentMethodRef(method="paypal", provider_token="tok_paypal_approve"),
    )


def payment_captured(order_id: uuid.UUID) -> PaymentCaptured:
    return PaymentCaptured(
        order_id=order_id,
        payment_id=uuid.uuid4(),
        amount=eur("10.00"),
        provider="sandbox",
        provider_reference=f"cap_{order_id.hex[:8]}",
    )


def payment_declined(order_id: uuid.UUID) -> PaymentDeclined:
    return PaymentDeclined(
        order_id=order_id,
        payment_id=uuid.uuid4(),
        amount=eur("10.00"),
        reason_code="insufficient_funds",
        message="The card was declined.",
        provider="sandbox",
    )


def payment_voided(order_id: uuid.UUID) -> PaymentVoided:
    return PaymentVoided(
        order_id=order_id,
        payment_id=uuid.uuid4(),
        amount=eur("10.00"),
        reason="order_cancelled",
        provider="sandbox",
    )


def order_cancelled(order_id: uuid.UUID) -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason="customer_requested")


def parcel_dispatched(
    shipment_id: uuid.UUID,
    warehouse_id: str,
    tracking: str = "TRACK-1",
    at: datetime = WAREHOUSE_TIME,
) -> ParcelDispatched:
    return ParcelDispatched(
        shipment_id=shipment_id,
        warehouse_id=warehouse_id,
        carrier="DHL",
        tracking_number=tracking,
        dispatched_at=at,
    )


def parcel_delivered(shipment_id: uuid.UUID, at: datetime = WAREHOUSE_TIME) -> ParcelDelivered:
    return ParcelDelivered(shipment_id=shipment_id, delivered_at=at)


def stock_counted(warehouse_id: str, sku: str, on_hand: int, at: datetime) -> StockCounted:
    return StockCounted(warehouse_id=warehouse_id, sku=sku, on_hand=on_hand, counted_at=at)


def return_authorized(
    order_id: uuid.UUID, rma_id: uuid.UUID, lines: Mapping[str, int]
) -> ReturnAuthorized:
    return ReturnAuthorized(
        order_id=order_id,
        rma_id=rma_id,
        return_request_id=f"rr-{rma_id.hex[:8]}",
        lines=[LineQuantity(sku=s, quantity=q) for s, q in lines.items()],
        return_by=date(2025, 4, 1),
    )


def return_parcel(
    rma_id: uuid.UUID,
    warehouse_id: str,
    lines: list[tuple[str, int, str]],
    at: datetime = WAREHOUSE_TIME,
) -> ReturnParcelReceived:
    """``lines``: (sku, quantity, "resellable" | "damaged")"""
    return ReturnParcelReceived(
        rma_id=rma_id,
        warehouse_id=warehouse_id,
        lines=[
            ReturnedLine(sku=sku, quantity=q, condition=c)  # type: ignore[arg-type]
            for sku, q, c in lines
        ],
        received_at=at,
    )


def replacement_requested(
    order_id: uuid.UUID, claim_id: str, lines: Mapping[str, int], country: str = "FR"
) -> ReplacementRequested:
    return ReplacementRequested(
        order_id=order_id,
        claim_id=claim_id,
        lines=[LineQuantity(sku=s, quantity=q) for s, q in lines.items()],
        ship_to=address(country),
    )

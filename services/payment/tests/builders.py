"""Events as cart, fulfillment and returns would publish them, for payment's tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.events.fulfillment import (
    ReservationReleased,
    StockReserved,
    StockUnavailable,
)
from orderflow_contracts.events.orders import OrderCancelled, OrderPlaced
from orderflow_contracts.events.returns import RefundRequested
from orderflow_contracts.examples import example_data
from orderflow_contracts.money import Money

PRODUCERS = {
    OrderPlaced: "cart",
    OrderCancelled: "cart",
    StockReserved: "fulfillment",
    StockUnavailable: "fulfillment",
    ReservationReleased: "fulfillment",
    RefundRequested: "returns",
}


def order_placed(
    order_id: uuid.UUID | None = None,
    *,
    total: str = "55.44",
    currency: str = "EUR",
    method: str = "visa",
    token: str = "tok_visa_approve",
) -> OrderPlaced:
    data = example_data("OrderPlaced")
    money = {"amount": total, "currency": currency}
    data.update(
        order_id=str(order_id or uuid.uuid4()),
        currency=currency,
        lines=[
            {
                "sku": "MB-SPIKY-8CM",
                "name": "Spiky massage ball 8 cm",
                "quantity": 1,
                "unit_price": money,
                "line_total": money,
            }
        ],
        subtotal=money,
        shipping_fee={"amount": str(Money.zero(currency).amount), "currency": currency},
        total=money,
    )
    data["fx"]["quote_currency"] = currency
    card = data["payment"]["card"] if method != "paypal" else None
    data["payment"] = {"method": method, "provider_token": token, "card": card}
    return OrderPlaced.model_validate(data)


def stock_reserved(order_id: uuid.UUID) -> StockReserved:
    return StockReserved.model_validate(
        {**example_data("StockReserved"), "order_id": str(order_id)}
    )


def stock_unavailable(order_id: uuid.UUID) -> StockUnavailable:
    return StockUnavailable.model_validate(
        {**example_data("StockUnavailable"), "order_id": str(order_id)}
    )


def reservation_released(order_id: uuid.UUID, reason: str = "expired") -> ReservationReleased:
    return ReservationReleased.model_validate(
        {**example_data("ReservationReleased"), "order_id": str(order_id), "reason": reason}
    )


def order_cancelled(order_id: uuid.UUID, reason: str = "customer_requested") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason)


def refund_requested(
    order_id: uuid.UUID,
    amount: str,
    *,
    currency: str = "EUR",
    refund_id: uuid.UUID | None = None,
    rma_id: uuid.UUID | None = None,
) -> RefundRequested:
    return RefundRequested(
        order_id=order_id,
        refund_id=refund_id or uuid.uuid4(),
        rma_id=rma_id,
        amount=Money.of(Decimal(amount), currency),
        lines=[],
        shipping_refund=Money.zero(currency),
    )


def envelope(event: Event, *, correlation_id: str | None = None) -> Envelope:
    return Envelope.wrap(
        event,
        producer=PRODUCERS.get(type(event), "test"),
        correlation_id=correlation_id or f"journey-{uuid.uuid4().hex[:8]}",
    )

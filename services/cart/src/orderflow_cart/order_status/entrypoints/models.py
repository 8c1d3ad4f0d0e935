"""What the order-status API answers, as documented in its OpenAPI description."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orderflow_contracts.events import RejectionReason
from orderflow_contracts.money import Money
from pydantic import BaseModel, Field

from orderflow_cart.order_status.domain.status import OrderState, OrderStatus
from orderflow_cart.order_status.ports import Position, StoredStatus


class PositionView(BaseModel):
    """The last event this answer reflects. A storefront that just caused something (a return
    request, say) waits until the answer shows its effect (see the cart README)."""

    version: int = Field(
        description="Events applied to this order so far: the ETag, and the SSE event id.",
        examples=[11],
    )
    last_event_id: UUID = Field(description="The envelope id of the last event applied.")
    last_event_type: str = Field(examples=["OrderCompleted"])
    last_event_at: datetime = Field(description="When that event happened (its producer's time).")
    applied_at: datetime = Field(description="When the cart service applied it.")


class OrderStatusResponse(OrderStatus):
    position: PositionView


class OrderSummary(BaseModel):
    order_id: UUID
    cart_id: str | None
    state: OrderState
    placed_at: datetime
    currency: str | None
    total: Money | None
    last_event_at: datetime | None
    position: PositionView


class CustomerOrdersResponse(BaseModel):
    """One page of a customer's orders, newest first."""

    customer_id: str
    orders: list[OrderSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class ErrorMessage(BaseModel):
    detail: str = Field(examples=["no order 5f0c6a8e-3c1b-4d7e-9a52-0b6f1d2e3a4b"])


class CheckoutRejectionView(BaseModel):
    reasons: list[RejectionReason]
    rejected_at: datetime
    checkout_event_id: str | None = Field(
        description="The event_id of the CheckoutRequested this rejection answers: a "
        "storefront that sent another checkout since waits until this is its own."
    )


class NoOrderForCart(BaseModel):
    detail: str = Field(examples=["cart 'cart-42' has no order: its checkout was rejected"])
    checkout_rejection: CheckoutRejectionView | None = Field(
        description="Why the cart's latest checkout was refused, when it was."
    )


def position_json(position: Position) -> dict[str, Any]:
    return PositionView(**vars(position)).model_dump(mode="json")


def status_json(stored: StoredStatus) -> dict[str, Any]:
    """The stored view as served (it was validated when stored), with its position."""
    return {**stored.view, "position": position_json(stored.position)}


def summary_json(stored: StoredStatus) -> dict[str, Any]:
    view = stored.view
    amounts = view.get("amounts") or {}
    return {
        "order_id": view["order_id"],
        "cart_id": view["cart_id"],
        "state": view["state"],
        "placed_at": view["placed_at"],
        "currency": view["currency"],
        "total": amounts.get("total"),
        "last_event_at": view["last_event_at"],
        "position": position_json(stored.position),
    }

"""What the order-status projection knows about one order (:class:`OrderFacts`), each fact
under its own key: the payment, the shipment, the RMA, the refund, the claim. Events add to
them (:mod:`~orderflow_cart.order_status.domain.facts`); the state a storefront is shown is
derived from them (:mod:`~orderflow_cart.order_status.domain.view`)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from orderflow_contracts.money import Money
from pydantic import BaseModel, ConfigDict, Field


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Line(_Facts):
    sku: str
    quantity: int


class PlacedLine(Line):
    name: str
    unit_price: Money
    line_total: Money


class Placed(_Facts):
    cart_id: str
    customer_id: str
    placed_at: datetime
    currency: str
    lines: list[PlacedLine]
    subtotal: Money
    shipping_fee: Money
    total: Money
    ship_to_country: str
    payment_method: str
    card_brand: str | None = None
    card_last4: str | None = None


class Outcome(_Facts):
    """Why something was refused or undone: a reason code and a sentence."""

    code: str
    message: str | None = None


class Cancellation(Outcome):
    at: datetime
    event_id: UUID


class Payment(_Facts):
    authorized: Money | None = None
    declined: Outcome | None = None
    captured: Money | None = None
    voided: Outcome | None = None


class Shipment(_Facts):
    warehouse_id: str | None = None
    shipping_service: str | None = None
    lines: list[Line] | None = None
    replacement: bool = False
    warranty_claim_id: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    dispatched_at: datetime | None = None
    delivered_at: datetime | None = None
    delivered_lines: list[Line] | None = None


class StoppedRefund(Outcome):
    at: datetime


class Rma(_Facts):
    return_request_id: str | None = None
    lines: list[Line] | None = None
    return_by: str | None = None
    refund_requested: bool = False
    refund_stopped: StoppedRefund | None = None


class Refund(_Facts):
    rma_id: UUID | None = None
    requested: Money | None = None
    issued: Money | None = None
    failed: Outcome | None = None
    # A refund id may be asked again after a failure (returns' retry of an unreachable
    # provider): each request gets one answer, so it stands failed while no request is left
    # unanswered, whichever topic was read first. Event ids: an event applied twice counts once.
    request_events: list[str] = []
    failure_events: list[str] = []

    @property
    def is_failed(self) -> bool:
        return self.failed is not None and len(self.failure_events) >= len(self.request_events)


class Claim(_Facts):
    sku: str | None = None
    quantity: int | None = None
    country_of_usage: str | None = None
    accepted: bool = False
    warranty_ends_on: str | None = None
    rejected: Outcome | None = None
    replacement_lines: list[Line] | None = None


class OrderFacts(_Facts):
    """Everything the projection knows about one order, each fact under its own key."""

    order_id: UUID
    placed: Placed | None = None
    checked_out_cart_id: str | None = None
    checked_out_customer_id: str | None = None
    cancelled: Cancellation | None = None
    stock_reserved_warehouses: list[str] = Field(default_factory=list)
    stock_unavailable: list[Line] | None = None
    reservation_released: str | None = None
    completed_at: datetime | None = None
    payments: dict[str, Payment] = Field(default_factory=dict)
    shipments: dict[str, Shipment] = Field(default_factory=dict)
    rmas: dict[str, Rma] = Field(default_factory=dict)
    return_rejections: dict[str, Outcome] = Field(default_factory=dict)
    refunds: dict[str, Refund] = Field(default_factory=dict)
    refunded_total_reported: Money | None = None
    claims: dict[str, Claim] = Field(default_factory=dict)
    last_event_at: datetime | None = None

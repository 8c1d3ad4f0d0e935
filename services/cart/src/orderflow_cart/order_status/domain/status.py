"""What a storefront is shown about an order: the status model (also the API's documented
answer). Derived from the facts by :func:`~orderflow_cart.order_status.domain.view.order_view`."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from orderflow_contracts.money import Money
from pydantic import BaseModel, ConfigDict, Field

from orderflow_cart.order_status.domain.order_facts import Line


class OrderState(StrEnum):
    """Where the order stands, most advanced fact first (see the cart README)."""

    AWAITING_ORDER = "awaiting_order"
    PLACED = "placed"
    PAID = "paid"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    PARTIALLY_REFUNDED = "partially_refunded"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(_View):
    code: str = Field(description="A reason code.", examples=["payment_declined"])
    message: str | None = Field(default=None, examples=["The card was declined."])


class LineView(_View):
    sku: str = Field(examples=["MB-SPIKY-8CM"])
    name: str = Field(examples=["Spiky massage ball 8 cm"])
    quantity: int = Field(description="Units ordered.", examples=[2])
    unit_price: Money
    line_total: Money
    delivered: int = Field(description="Units delivered (replacements not counted).")
    returned: int = Field(description="Units in authorised returns (RMAs).")
    return_window_ends_on: date | None = Field(
        description="The last day any of these units may be returned (their latest delivery + "
        "30 calendar days); null until delivered. A line delivered in several parcels has a "
        "window per parcel: the units of an earlier parcel (`shipments[].delivered_at`) may be "
        "returned until that day + 30, as the returns service counts them."
    )
    warranty_country: str = Field(
        description="The country of usage the warranty end is computed for: the ship-to "
        "country (a claim names its own).",
        examples=["DE"],
    )
    warranty_ends_on: date | None = Field(
        description="The last day these units are under warranty in `warranty_country`; null "
        "until delivered, or where the store offers no warranty."
    )


class Amounts(_View):
    subtotal: Money
    shipping_fee: Money
    total: Money
    authorized: Money = Field(
        description="Every amount the payment method authorised for the order, kept after "
        "capture or void (so after a capture it usually equals `captured`)."
    )
    captured: Money = Field(description="Charged.")
    refunded: Money = Field(description="Paid back; never more than `captured`.")


class PaymentView(_View):
    method: str = Field(examples=["visa"])
    card_brand: str | None = Field(default=None, examples=["visa"])
    card_last4: str | None = Field(default=None, examples=["4242"])
    status: str = Field(
        description="pending, authorized, declined, captured or voided.", examples=["captured"]
    )
    declined: Reason | None = None


class ShipmentView(_View):
    shipment_id: UUID
    status: str = Field(description="requested, dispatched or delivered.", examples=["delivered"])
    warehouse_id: str | None = None
    shipping_service: str | None = Field(default=None, examples=["standard"])
    lines: list[Line] | None = Field(description="Null until the shipment request is seen.")
    carrier: str | None = Field(default=None, examples=["DHL"])
    tracking_number: str | None = Field(default=None, examples=["JD014600003828"])
    dispatched_at: datetime | None = None
    delivered_at: datetime | None = None
    replacement: bool = Field(description="A warranty replacement, at no charge.")
    warranty_claim_id: str | None = None


class ReturnView(_View):
    rma_id: UUID
    return_request_id: str | None = Field(
        description="The storefront's id of the request, echoed: wait for it to appear here."
    )
    status: str = Field(
        description="authorized, refund_requested, refunded, refund_failed or closed "
        "(the parcel left nothing to refund)."
    )
    lines: list[Line] | None
    return_by: date | None = Field(description="Send the parcel by this day (inclusive).")
    refund_stopped: Reason | None = Field(
        default=None,
        description="Why no refund was requested for the parcel (refund_failed or closed).",
    )


class ReturnRejectionView(_View):
    return_request_id: str
    reason: Reason


class RefundView(_View):
    refund_id: UUID
    rma_id: UUID | None
    status: str = Field(description="requested, issued or failed.")
    amount: Money | None
    failure: Reason | None = None


class WarrantyClaimView(_View):
    claim_id: str
    status: str = Field(description="accepted or rejected.")
    sku: str | None
    quantity: int | None
    country_of_usage: str | None
    warranty_ends_on: date | None
    rejection: Reason | None = None
    replacement_shipment_id: UUID | None = Field(
        default=None, description="The shipment carrying the replacement, once requested."
    )


class OrderStatus(_View):
    """Everything that happened to one order, as a storefront shows it."""

    order_id: UUID
    cart_id: str | None = Field(examples=["cart-42"])
    customer_id: str | None = Field(examples=["customer-7"])
    state: OrderState = Field(examples=["completed"])
    cancellation: Reason | None = Field(
        description="Why the order was cancelled (state `cancelled`)."
    )
    placed_at: datetime | None
    currency: str | None = Field(examples=["EUR"])
    lines: list[LineView]
    amounts: Amounts | None = Field(description="Null until the order itself is seen.")
    payment: PaymentView | None
    shipments: list[ShipmentView]
    delivered_at: datetime | None = Field(
        description="When the last original shipment arrived, once every one has."
    )
    return_window_ends_on: date | None = Field(
        description="The last day any unit of the order may still be returned."
    )
    returns: list[ReturnView]
    return_rejections: list[ReturnRejectionView]
    refunds: list[RefundView]
    warranty_claims: list[WarrantyClaimView]
    out_of_stock: list[Line] | None = Field(
        description="Lines that could not be served (the order is then cancelled)."
    )
    last_event_at: datetime | None = Field(description="When the latest fact happened.")

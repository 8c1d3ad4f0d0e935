"""Returns and warranty events: the storefront's requests (`storefront.returns`) and the returns
service's decisions (`returns`). Both topics are keyed by order_id.

Storefront requests carry their own id (`return_request_id`, `claim_id`) so the storefront can
match the answer to the request.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator

from orderflow_contracts import topics
from orderflow_contracts.events.base import Event
from orderflow_contracts.events.common import (
    PER_SKU_DESCRIPTION,
    UNITS_PER_SKU,
    ClaimId,
    CustomerId,
    LineQuantity,
    OrderId,
    PostalAddress,
    RefundId,
    RefundLine,
    ReturnRequestId,
    RmaId,
)
from orderflow_contracts.money import NonNegativeMoney, PositiveMoney
from orderflow_contracts.primitives import (
    CalendarDate,
    CountryCode,
    Identifier,
    ReasonCode,
    Sku,
    Text,
    known_codes,
)

# --------------------------------------------------------------------------- storefront.returns


class ReturnRequested(Event):
    """The customer asked to return units of a delivered order (within 30 days of delivery).

    Answered by `ReturnAuthorized` or `ReturnRejected` with the same `return_request_id`; one
    that breaks the contract is dead-lettered and answered `ReturnRejected` with code
    `invalid_request` (one returns could not process: `request_failed`), when its key (the
    order id) and `return_request_id` can be read.
    Published by the storefront; consumed by the returns service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    return_request_id: ReturnRequestId
    lines: Annotated[
        list[LineQuantity], Field(min_length=1, description=PER_SKU_DESCRIPTION), UNITS_PER_SKU
    ]
    reason: Text = Field(description="Why the customer returns the items, in their words.")
    customer_id: CustomerId | None = None


class WarrantyClaimFiled(Event):
    """The customer reports a defect in a delivered product, in the country where it is used
    (warranty terms depend on that country). Within the return window the answer points to
    the return flow instead.

    Answered by `WarrantyClaimAccepted` or `WarrantyClaimRejected` with the same `claim_id`;
    one that breaks the contract is dead-lettered and answered `WarrantyClaimRejected` with
    code `invalid_request` (one returns could not process: `request_failed`), when its key
    (the order id) and `claim_id` can be read.
    Published by the storefront; consumed by the returns service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    claim_id: ClaimId
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=100)] = 1
    country_of_usage: CountryCode
    defect_description: Text
    serial_number: Identifier | None = Field(
        default=None, description="The unit's serial number, when the product has one."
    )
    customer_id: CustomerId | None = None


# ------------------------------------------------------------------------------------ returns


class ReturnAuthorized(Event):
    """A return was accepted: the customer may send `lines` back, quoting `rma_id`, until
    `return_by` (inclusive).

    Published by returns (answering `ReturnRequested`); consumed by the storefront (shows the
    RMA), fulfillment and warehouses (expect the parcel), ops.
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    rma_id: RmaId
    return_request_id: ReturnRequestId
    lines: Annotated[
        list[LineQuantity], Field(min_length=1, description=PER_SKU_DESCRIPTION), UNITS_PER_SKU
    ]
    return_by: CalendarDate


class ReturnRejectionCode(StrEnum):
    """Reason codes of `ReturnRejected` (an open list)."""

    UNKNOWN_ORDER = "unknown_order"
    NOT_DELIVERED = "not_delivered"
    WINDOW_EXPIRED = "window_expired"
    QUANTITY_EXCEEDS_DELIVERED = "quantity_exceeds_delivered"
    UNKNOWN_SKU = "unknown_sku"
    # The request itself breaks the contract (a blank or too long reason, card data): it is
    # dead-lettered with the cause, and answered so the storefront hears why.
    INVALID_REQUEST = "invalid_request"
    # Returns could not process the request (a failure its retries did not get past): it is
    # dead-lettered for ops; nothing was authorised.
    REQUEST_FAILED = "request_failed"


class ReturnRejected(Event):
    """A return request was refused.

    Published by returns (answering `ReturnRequested`); consumed by the storefront and ops.
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    return_request_id: ReturnRequestId
    reason_code: ReasonCode = known_codes(ReturnRejectionCode)
    message: Text


class RefundRequested(Event):
    """Returned goods arrived: refund `amount` to the original payment method. `amount` is the
    returned lines at the price actually paid, plus `shipping_refund` (the shipping fee, when
    the whole order has come back). `refund_id` is payment's idempotency key.

    Published by returns (on `ReturnParcelReceived`); consumed by payment (-> `RefundIssued` or
    `RefundFailed`) and ops.
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    refund_id: RefundId
    rma_id: RmaId | None = None
    amount: PositiveMoney
    lines: list[RefundLine]
    shipping_refund: NonNegativeMoney

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        currencies = {self.amount.currency, self.shipping_refund.currency}
        currencies |= {line.amount.currency for line in self.lines}
        if len(currencies) != 1:
            raise ValueError("every amount of a refund must be in one currency")
        return self


class ReturnRefundStopCode(StrEnum):
    """Reason codes of `ReturnRefundStopped` (an open list)."""

    NOTHING_TO_REFUND = "nothing_to_refund"
    EXCEEDS_PAID = "exceeds_paid"
    EXCEEDS_ORDERED = "exceeds_ordered"
    UNPRICED_SKU = "unpriced_sku"


class ReturnRefundStopped(Event):
    """A returned parcel arrived but no refund was requested for its RMA. `nothing_to_refund`
    closes the return (the units were worth nothing left to pay back); any other code means
    the refund was refused and waits for ops (who may retry it: a `RefundRequested` follows).

    Published by returns (instead of `RefundRequested`); consumed by the storefront (the
    return's status) and ops.
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    rma_id: RmaId
    reason_code: ReasonCode = known_codes(ReturnRefundStopCode)
    message: Text


class WarrantyClaimAccepted(Event):
    """A warranty claim was accepted: a replacement will ship at no charge (see the
    `ReplacementRequested` published with it). No refund.

    Published by returns (answering `WarrantyClaimFiled`); consumed by the storefront and ops.
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    claim_id: ClaimId
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=100)] = 1
    country_of_usage: CountryCode
    warranty_ends_on: CalendarDate | None = Field(
        default=None,
        description=(
            "The last day of the warranty term of the claimed units: counted from the latest "
            "delivery of the SKU the claim could count on (units of one SKU are not told apart)."
        ),
    )


class ReplacementRequested(Event):
    """A warranty claim was accepted: ship these units again at no charge, to `ship_to`.

    Published by returns (with `WarrantyClaimAccepted`); consumed by fulfillment, which reserves
    stock and sends a `FulfillmentRequested` with `replacement: true`. (The original brief listed it
    under `fulfillment`; it lives on `returns` because returns publishes it and fulfillment
    already consumes `returns`: every topic keeps a single writer.)
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    claim_id: ClaimId
    lines: Annotated[
        list[LineQuantity], Field(min_length=1, description=PER_SKU_DESCRIPTION), UNITS_PER_SKU
    ]
    ship_to: PostalAddress


class WarrantyRejectionCode(StrEnum):
    """Reason codes of `WarrantyClaimRejected` (an open list)."""

    UNKNOWN_ORDER = "unknown_order"
    NOT_DELIVERED = "not_delivered"
    WITHIN_RETURN_WINDOW = "within_return_window"
    WARRANTY_EXPIRED = "warranty_expired"
    ALREADY_CLAIMED = "already_claimed"
    NOT_COVERED_IN_COUNTRY = "not_covered_in_country"
    UNKNOWN_SKU = "unknown_sku"
    QUANTITY_EXCEEDS_DELIVERED = "quantity_exceeds_delivered"
    # The country of usage is two capitals but no ISO 3166-1 alpha-2 code ("UK", "EL"):
    # checked first, as the term depends on it.
    INVALID_COUNTRY = "invalid_country"
    # As for returns: the claim breaks the contract (a country not written as two capitals, a
    # blank description, card data...), or returns could not process it; dead-lettered.
    INVALID_REQUEST = "invalid_request"
    REQUEST_FAILED = "request_failed"


class WarrantyClaimRejected(Event):
    """A warranty claim was refused. `within_return_window` means: use the return flow instead.

    Published by returns (answering `WarrantyClaimFiled`); consumed by the storefront and ops.
    """

    topic: ClassVar[str] = topics.RETURNS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    claim_id: ClaimId
    reason_code: ReasonCode = known_codes(WarrantyRejectionCode)
    message: Text

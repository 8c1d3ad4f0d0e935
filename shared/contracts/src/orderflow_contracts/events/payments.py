"""Payment events (`payments`, keyed by order_id). All published by the payment service.

Amounts are in the order's currency. `provider` names the adapter that moved the money
(`sandbox`, `card-processor`, `paypal`...), `provider_reference` is that provider's id for the
operation (for support and reconciliation).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from orderflow_contracts import topics
from orderflow_contracts.events.base import Event
from orderflow_contracts.events.common import OrderId, PaymentId, RefundId, RmaId
from orderflow_contracts.money import NonNegativeMoney, PositiveMoney
from orderflow_contracts.primitives import (
    Identifier,
    PaymentMethod,
    ProviderToken,
    ReasonCode,
    Text,
    UtcDatetime,
    known_codes,
)


class PaymentAuthorized(Event):
    """The provider authorised (reserved) the order's total on the customer's payment method.
    Nothing is charged yet: capture follows once stock is reserved, a void otherwise.

    Published by payment (answering `OrderPlaced`); consumed by fulfillment, the cart service,
    returns and ops.
    """

    topic: ClassVar[str] = topics.PAYMENTS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    payment_id: PaymentId
    amount: PositiveMoney
    method: PaymentMethod
    provider: Identifier
    provider_reference: ProviderToken
    expires_at: UtcDatetime | None = Field(
        default=None, description="When the authorisation lapses if not captured."
    )


class PaymentDeclineCode(StrEnum):
    """Reason codes of `PaymentDeclined` (an open list)."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    DO_NOT_HONOUR = "do_not_honour"
    EXPIRED_CARD = "expired_card"
    FRAUD_SUSPECTED = "fraud_suspected"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - a reason code
    PROVIDER_UNAVAILABLE = "provider_unavailable"


class PaymentDeclined(Event):
    """The authorisation was refused (or could not be obtained after retries); the order
    will be cancelled and its reservation released.

    Published by payment (answering `OrderPlaced`); consumed by the cart service, fulfillment,
    the storefront and ops.
    """

    topic: ClassVar[str] = topics.PAYMENTS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    payment_id: PaymentId
    amount: PositiveMoney
    reason_code: ReasonCode = known_codes(PaymentDeclineCode)
    message: Text
    provider: Identifier
    provider_reference: ProviderToken | None = None


class PaymentCaptured(Event):
    """The authorised amount was charged. Sent once the order is both authorised and
    stock-reserved, in whichever order those arrived.

    Published by payment; consumed by fulfillment (sends the order to the warehouses), returns
    (the refundable ceiling), the storefront and ops.
    """

    topic: ClassVar[str] = topics.PAYMENTS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    payment_id: PaymentId
    amount: PositiveMoney
    provider: Identifier
    provider_reference: ProviderToken


class PaymentVoidReason(StrEnum):
    """Reason codes of `PaymentVoided` (an open list)."""

    STOCK_UNAVAILABLE = "stock_unavailable"
    ORDER_CANCELLED = "order_cancelled"
    RESERVATION_RELEASED = "reservation_released"
    AUTHORIZATION_EXPIRED = "authorization_expired"


class PaymentVoided(Event):
    """The authorisation was cancelled without charging anything.

    Published by payment (on `StockUnavailable`, `OrderCancelled`, `ReservationReleased`, or an
    authorisation left uncaptured too long); consumed by the cart service, the storefront, ops.
    """

    topic: ClassVar[str] = topics.PAYMENTS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    payment_id: PaymentId
    amount: PositiveMoney = Field(description="The authorised amount released.")
    reason: ReasonCode = known_codes(PaymentVoidReason)
    provider: Identifier
    provider_reference: ProviderToken | None = None


class RefundIssued(Event):
    """Money went back to the original payment method. `refund_id` is the one the request
    carried; `total_refunded` is everything refunded for the order so far, never more than was
    captured.

    Published by payment (answering `RefundRequested`, or a cancellation after capture);
    consumed by returns (closes the RMA), the storefront and ops.
    """

    topic: ClassVar[str] = topics.PAYMENTS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    refund_id: RefundId
    payment_id: PaymentId
    amount: PositiveMoney
    total_refunded: PositiveMoney
    rma_id: RmaId | None = None
    provider: Identifier
    provider_reference: ProviderToken


class RefundFailureCode(StrEnum):
    """Reason codes of `RefundFailed` (an open list)."""

    EXCEEDS_CAPTURED = "exceeds_captured"
    NOT_CAPTURED = "not_captured"
    CURRENCY_MISMATCH = "currency_mismatch"
    PROVIDER_REFUSED = "provider_refused"
    PROVIDER_UNAVAILABLE = "provider_unavailable"


class RefundFailed(Event):
    """A requested refund was not made (over the captured amount, nothing captured, provider
    refusal or outage after retries); ops must look at it.

    Published by payment; consumed by returns (surfaces it on the RMA), the storefront, ops.
    """

    topic: ClassVar[str] = topics.PAYMENTS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    refund_id: RefundId
    amount: NonNegativeMoney = Field(description="The amount that was requested.")
    reason_code: ReasonCode = known_codes(RefundFailureCode)
    message: Text
    rma_id: RmaId | None = None

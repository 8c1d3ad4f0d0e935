"""Payment events (`payments`, keyed by order_id). All published by the payment service.

Amounts are in the order's currency. `provider` names the adapter that moved the money
(`sandbox`, `card-processor`, `paypal`...), `provider_reference` is that provider's id for the
operation (for support and reconciliation).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Final

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
    """Reason codes of `RefundFailed` (an open list).

    `provider_unavailable` (the provider did nothing), `provider_not_configured` (payment has
    no adapter for the provider that took the payment) and `outcome_unknown` (an earlier call
    went unanswered and the provider refused the next one: the refund may have been paid) may
    be asked again under the same `refund_id` and amount, which the provider's idempotency key
    answers without paying twice. Any other failure is final for its `refund_id`.
    """

    EXCEEDS_CAPTURED = "exceeds_captured"
    NOT_CAPTURED = "not_captured"
    CURRENCY_MISMATCH = "currency_mismatch"
    PROVIDER_REFUSED = "provider_refused"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_NOT_CONFIGURED = "provider_not_configured"
    OUTCOME_UNKNOWN = "outcome_unknown"


_ASKED_AGAIN_UNDER_SAME_ID: Final = frozenset(
    {
        RefundFailureCode.PROVIDER_UNAVAILABLE,
        RefundFailureCode.PROVIDER_NOT_CONFIGURED,
        RefundFailureCode.OUTCOME_UNKNOWN,
    }
)


REFUND_FAILURES_THAT_MAY_HAVE_PAID: Final = frozenset({RefundFailureCode.OUTCOME_UNKNOWN})
"""Codes of a `RefundFailed` after which the money may have gone back all the same: whoever
keeps a refund ceiling counts such a refund as made until it is answered again."""


def refund_may_be_asked_again(reason_code: str | None) -> bool:
    """Whether a refund that failed with `reason_code` is asked again by a `RefundRequested`
    with the same `refund_id` and amount (see `RefundFailureCode`)."""
    return reason_code in _ASKED_AGAIN_UNDER_SAME_ID


class RefundFailed(Event):
    """A requested refund was not made (over the captured amount, nothing captured, provider
    refusal or outage after retries); ops must look at it. After `provider_unavailable`,
    `provider_not_configured` or `outcome_unknown`, a `RefundRequested` with the same
    `refund_id` and amount asks again (`outcome_unknown`: the refund may have been paid; check
    with the provider first); after any other code the `refund_id` stays failed.

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

"""The payment aggregate: one per order, with guarded state transitions.

```
authorised ──capture──> captured ──refund──> partially_refunded ──refund──> refunded
    │                                  └───────────refund (all)──────────────────┘
    └──void (stock unavailable, reservation released, order cancelled, expired)──> voided
declined (the authorisation was refused: terminal)
```

Every transition checks the state it starts from, so a fact that arrives twice (in two
messages, or from two instances) changes nothing the second time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orderflow_contracts.events.payments import RefundFailureCode, refund_may_be_asked_again
from orderflow_contracts.money import Money


class PaymentStatus(StrEnum):
    AUTHORISED = "authorised"
    DECLINED = "declined"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


CAPTURED_STATES = frozenset(
    {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)


class StockStatus(StrEnum):
    """What fulfillment last said about the order's stock."""

    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    RELEASED = "released"


def next_stock_status(current: StockStatus | None, reported: StockStatus) -> StockStatus:
    """Stock facts only move forward: reserved -> released; unavailable and released are final.

    A late or redelivered ``StockReserved`` must not revive a released reservation.
    """
    if current in (StockStatus.UNAVAILABLE, StockStatus.RELEASED):
        return current
    return reported


@dataclass(frozen=True)
class OrderFacts:
    """What payment knows about its order from other services (stock, cancellation)."""

    stock_status: StockStatus | None = None
    cancelled_reason: str | None = None

    @property
    def order_is_dead(self) -> bool:
        """Nothing will ever be captured for this order: do not authorise it."""
        return self.cancelled_reason is not None or self.stock_status in (
            StockStatus.UNAVAILABLE,
            StockStatus.RELEASED,
        )


@dataclass(frozen=True)
class RefundRecord:
    """A refund id already answered (issued, or failed with a code)."""

    refund_id: uuid.UUID
    order_id: uuid.UUID
    status: str
    amount: Money
    failure_code: str | None

    @property
    def may_be_retried(self) -> bool:
        """Only a refund the provider did not (or may not have) done is tried again: asked
        again under its id, the provider's idempotency key answers it."""
        return self.status == "failed" and refund_may_be_asked_again(self.failure_code)


class InvalidTransition(Exception):
    """A transition was asked from a state that does not allow it (a bug in the caller)."""


@dataclass
class Payment:
    payment_id: uuid.UUID
    order_id: uuid.UUID
    status: PaymentStatus
    method: str
    provider: str
    amount: Money
    captured: Money
    refunded: Money
    authorisation_reference: str | None
    capture_reference: str | None
    expires_at: datetime | None
    correlation_id: str

    @classmethod
    def authorised(
        cls,
        *,
        payment_id: uuid.UUID,
        order_id: uuid.UUID,
        method: str,
        provider: str,
        amount: Money,
        reference: str,
        expires_at: datetime,
        correlation_id: str,
    ) -> Payment:
        zero = Money.zero(amount.currency)
        return cls(
            payment_id,
            order_id,
            PaymentStatus.AUTHORISED,
            method,
            provider,
            amount,
            zero,
            zero,
            reference,
            None,
            expires_at,
            correlation_id,
        )

    @classmethod
    def declined(
        cls,
        *,
        payment_id: uuid.UUID,
        order_id: uuid.UUID,
        method: str,
        provider: str,
        amount: Money,
        correlation_id: str,
    ) -> Payment:
        zero = Money.zero(amount.currency)
        return cls(
            payment_id,
            order_id,
            PaymentStatus.DECLINED,
            method,
            provider,
            amount,
            zero,
            zero,
            None,
            None,
            None,
            correlation_id,
        )

    @property
    def currency(self) -> str:
        return self.amount.currency.value

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded

    @property
    def can_capture(self) -> bool:
        return self.status is PaymentStatus.AUTHORISED

    @property
    def can_void(self) -> bool:
        return self.status is PaymentStatus.AUTHORISED

    @property
    def is_captured(self) -> bool:
        return self.status in CAPTURED_STATES

    def is_expired(self, now: datetime) -> bool:
        return (
            self.status is PaymentStatus.AUTHORISED
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def capture(self, reference: str) -> None:
        if not self.can_capture:
            raise InvalidTransition(f"cannot capture a {self.status} payment")
        self.status = PaymentStatus.CAPTURED
        self.captured = self.amount
        self.capture_reference = reference

    def void(self) -> None:
        if not self.can_void:
            raise InvalidTransition(f"cannot void a {self.status} payment")
        self.status = PaymentStatus.VOIDED

    def record_refund(self, amount: Money) -> None:
        refusal = refund_refusal(self, amount)
        if refusal is not None:
            raise InvalidTransition(f"cannot refund {amount}: {refusal.value}")
        self.refunded = self.refunded + amount
        self.status = (
            PaymentStatus.REFUNDED
            if self.refunded == self.captured
            else PaymentStatus.PARTIALLY_REFUNDED
        )


def refund_refusal(payment: Payment | None, amount: Money) -> RefundFailureCode | None:
    """Why a refund of ``amount`` cannot be made, or None when it can.

    Up to what was captured and not yet refunded; partial refunds are allowed.
    """
    if payment is None or not payment.is_captured:
        return RefundFailureCode.NOT_CAPTURED
    if amount.currency != payment.amount.currency:
        return RefundFailureCode.CURRENCY_MISMATCH
    if amount > payment.refundable:
        return RefundFailureCode.EXCEEDS_CAPTURED
    return None


def refund_refusal_message(code: RefundFailureCode, payment: Payment | None, amount: Money) -> str:
    if code is RefundFailureCode.NOT_CAPTURED:
        state = "no payment" if payment is None else f"the payment is {payment.status}"
        return f"nothing was captured for this order ({state}); refund of {amount} refused"
    assert payment is not None
    if code is RefundFailureCode.CURRENCY_MISMATCH:
        return f"refund in {amount.currency.value} for a payment captured in {payment.currency}"
    return (
        f"refund of {amount} exceeds what is refundable: {payment.captured} captured, "
        f"{payment.refunded} already refunded, {payment.refundable} left"
    )

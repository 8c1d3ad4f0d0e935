"""The payment aggregate: guarded transitions and refund limits, with plain values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_contracts.money import Money
from orderflow_payment.domain.model import (
    InvalidTransition,
    Payment,
    PaymentStatus,
    StockStatus,
    next_stock_status,
    refund_refusal,
    refund_refusal_message,
)

NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def authorised(amount: str = "55.44") -> Payment:
    return Payment.authorised(
        payment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        method="visa",
        provider="sandbox",
        amount=eur(amount),
        reference="sbx_auth_x",
        expires_at=NOW + timedelta(days=7),
        correlation_id="journey-1",
    )


def captured(amount: str = "55.44") -> Payment:
    payment = authorised(amount)
    payment.capture("sbx_cap_x")
    return payment


def test_capture_moves_the_whole_authorised_amount_once() -> None:
    payment = authorised()
    payment.capture("sbx_cap_x")
    assert (payment.status, str(payment.captured)) == (PaymentStatus.CAPTURED, "55.44 EUR")
    with pytest.raises(InvalidTransition):
        payment.capture("sbx_cap_y")
    with pytest.raises(InvalidTransition):
        payment.void()


def test_a_voided_or_declined_payment_can_be_neither_captured_nor_voided_again() -> None:
    voided = authorised()
    voided.void()
    declined = Payment.declined(
        payment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        method="paypal",
        provider="sandbox",
        amount=eur("10.00"),
        correlation_id="journey-2",
    )
    for payment in (voided, declined):
        assert not payment.can_capture
        assert not payment.can_void
        with pytest.raises(InvalidTransition):
            payment.capture("ref")
        with pytest.raises(InvalidTransition):
            payment.void()


def test_partial_then_full_refund_updates_the_status() -> None:
    payment = captured("55.44")
    payment.record_refund(eur("20.00"))
    assert (payment.status, str(payment.refundable)) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        "35.44 EUR",
    )
    payment.record_refund(eur("35.44"))
    assert (payment.status, str(payment.refunded)) == (PaymentStatus.REFUNDED, "55.44 EUR")
    with pytest.raises(InvalidTransition, match="exceeds_captured"):
        payment.record_refund(eur("0.01"))


@pytest.mark.parametrize(
    ("payment", "amount", "code"),
    [
        (None, eur("1.00"), "not_captured"),
        (authorised(), eur("1.00"), "not_captured"),
        (captured("10.00"), Money.of("1.00", "USD"), "currency_mismatch"),
        (captured("10.00"), eur("10.01"), "exceeds_captured"),
        (captured("10.00"), eur("10.00"), None),
        (captured("10.00"), eur("0.01"), None),
    ],
)
def test_refund_limits(payment: Payment | None, amount: Money, code: str | None) -> None:
    refusal = refund_refusal(payment, amount)
    assert (refusal.value if refusal else None) == code


def test_refund_refusal_messages_state_the_figures() -> None:
    payment = captured("30.00")
    payment.record_refund(eur("10.00"))
    refusal = refund_refusal(payment, eur("25.00"))
    assert refusal is not None
    assert refund_refusal_message(refusal, payment, eur("25.00")) == (
        "refund of 25.00 EUR exceeds what is refundable: 30.00 EUR captured, "
        "10.00 EUR already refunded, 20.00 EUR left"
    )


def test_expiry_applies_only_to_authorised_payments() -> None:
    payment = authorised()
    assert not payment.is_expired(NOW + timedelta(days=7) - timedelta(seconds=1))
    assert payment.is_expired(NOW + timedelta(days=7))
    payment.capture("ref")
    assert not payment.is_expired(NOW + timedelta(days=30))


@pytest.mark.parametrize(
    ("current", "reported", "result"),
    [
        (None, StockStatus.RESERVED, StockStatus.RESERVED),
        (StockStatus.RESERVED, StockStatus.RELEASED, StockStatus.RELEASED),
        (StockStatus.RELEASED, StockStatus.RESERVED, StockStatus.RELEASED),
        (StockStatus.UNAVAILABLE, StockStatus.RESERVED, StockStatus.UNAVAILABLE),
        (StockStatus.RESERVED, StockStatus.RESERVED, StockStatus.RESERVED),
    ],
)
def test_stock_facts_only_move_forward(
    current: StockStatus | None, reported: StockStatus, result: StockStatus
) -> None:
    assert next_stock_status(current, reported) is result

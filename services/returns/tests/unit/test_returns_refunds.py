"""Refund pricing: the price actually paid, shipping once, never more than was paid."""

from decimal import Decimal

import pytest
from orderflow_contracts.money import Currency, Money
from orderflow_returns.domain.refunds import (
    EXCEEDS_ORDERED,
    EXCEEDS_PAID,
    UNPRICED_SKU,
    OrderSnapshot,
    PaidLine,
    RefundedLine,
    RefundPlan,
    RefundRefusal,
    line_refund,
    plan_refund,
)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


# The contract's example order: 2 x 9.25 + 1 x 36.94, shipping 4.99 (a small order).
ORDER = OrderSnapshot(
    currency=Currency.EUR,
    lines={
        "BALL": PaidLine("BALL", 2, eur("18.50")),
        "SPLINT": PaidLine("SPLINT", 1, eur("36.94")),
    },
    shipping_fee=eur("4.99"),
    total=eur("60.43"),
)


def plan(
    returned: dict[str, int],
    previously: dict[str, int] | None = None,
    *,
    shipping_done: bool = False,
    refundable: Money | None = None,
    order: OrderSnapshot = ORDER,
) -> RefundPlan | RefundRefusal:
    return plan_refund(
        order,
        returned,
        previously_refunded=previously or {},
        replaced={},
        shipping_already_refunded=shipping_done,
        refundable=refundable if refundable is not None else order.total,
    )


def test_a_partial_return_refunds_the_unit_price_paid_without_shipping() -> None:
    assert plan({"BALL": 1}) == RefundPlan(
        (RefundedLine("BALL", 1, eur("9.25")),), eur("0.00"), eur("9.25"), whole_order_back=False
    )


def test_the_whole_order_at_once_refunds_every_line_and_the_shipping_fee() -> None:
    result = plan({"BALL": 2, "SPLINT": 1})
    assert isinstance(result, RefundPlan)
    assert result.amount == eur("60.43")
    assert result.shipping_refund == eur("4.99")
    assert result.whole_order_back


def test_partial_returns_summing_to_the_whole_order_refund_exactly_what_was_paid() -> None:
    first = plan({"BALL": 1})
    second = plan({"SPLINT": 1}, {"BALL": 1})
    third = plan({"BALL": 1}, {"BALL": 1, "SPLINT": 1})
    assert isinstance(first, RefundPlan)
    assert isinstance(second, RefundPlan)
    assert isinstance(third, RefundPlan)
    assert [p.shipping_refund for p in (first, second, third)] == [
        eur("0.00"),
        eur("0.00"),
        eur("4.99"),  # with the return that brings the last unit back, once
    ]
    assert [p.amount for p in (first, second, third)] == [eur("9.25"), eur("36.94"), eur("14.24")]
    assert Money.total((p.amount for p in (first, second, third)), "EUR") == ORDER.total


def test_shipping_is_never_refunded_twice() -> None:
    result = plan({"BALL": 1}, {"BALL": 1, "SPLINT": 1}, shipping_done=True)
    assert isinstance(result, RefundPlan)
    assert result.shipping_refund == eur("0.00")
    assert result.amount == eur("9.25")


def test_per_line_rounding_adds_up_exactly_when_the_line_does_not_divide() -> None:
    line = PaidLine("SOCK", 3, eur("10.00"))  # e.g. a discounted line: 3.333... per unit
    parts = [line_refund(line, 0, 1), line_refund(line, 1, 1), line_refund(line, 2, 1)]
    assert parts == [eur("3.33"), eur("3.34"), eur("3.33")]
    assert Money.total(parts, "EUR") == eur("10.00")
    assert line_refund(line, 0, 2) + line_refund(line, 2, 1) == eur("10.00")


def test_zero_decimal_currencies_refund_whole_units() -> None:
    line = PaidLine("BALL", 3, Money.of("1000", "JPY"))
    parts = [line_refund(line, n, 1) for n in range(3)]
    assert [p.amount for p in parts] == [Decimal("333"), Decimal("334"), Decimal("333")]
    assert Money.total(parts, "JPY") == Money.of("1000", "JPY")


def test_a_refund_above_what_is_left_to_refund_is_stopped() -> None:
    result = plan({"SPLINT": 1}, refundable=eur("30.00"))
    assert result == RefundRefusal(
        EXCEEDS_PAID, "refund of 36.94 EUR would exceed what is left to refund (30.00 EUR)"
    )
    assert isinstance(plan({"SPLINT": 1}, refundable=eur("36.94")), RefundPlan)


def test_units_not_in_the_order_cannot_be_priced() -> None:
    result = plan({"SOCK": 1})
    assert isinstance(result, RefundRefusal)
    assert result.code == UNPRICED_SKU


def test_more_units_than_ordered_are_refused() -> None:
    result = plan({"BALL": 1}, {"BALL": 2})
    assert isinstance(result, RefundRefusal)
    assert result.code == EXCEEDS_ORDERED
    with pytest.raises(ValueError, match="more units than were ordered"):
        line_refund(ORDER.lines["BALL"], 2, 1)


def test_free_items_refund_nothing() -> None:
    free = OrderSnapshot(
        Currency.EUR, {"GIFT": PaidLine("GIFT", 1, eur("0.00"))}, eur("0.00"), eur("0.00")
    )
    result = plan({"GIFT": 1}, order=free)
    assert isinstance(result, RefundPlan)
    assert result.amount.is_zero

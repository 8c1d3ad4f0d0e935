"""Pricing with exact figures: conversion, half-even rounding, totals and the $50 boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.pricing import (
    AmountTooLarge,
    ShippingPolicy,
    price_cart,
    smallest_free_shipping_subtotal,
    unit_price,
    value_in_usd,
)
from orderflow_cart.domain.rates import FxRate
from orderflow_contracts.money import Currency, Money

AS_OF = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
POLICY = ShippingPolicy.from_fees(
    {"USD": "4.95", "EUR": "4.95", "GBP": "3.95", "CAD": "6.95", "AUD": "7.95", "JPY": "700"}
)


def fx(currency: str, rate: str) -> FxRate:
    return FxRate(Currency.of(currency), Decimal(rate), AS_OF, "test")


def product(price: str, sku: str = "MB-SPIKY-8CM") -> Product:
    return Product(sku, f"product {sku}", Decimal(price))


def money(amount: str, currency: str) -> Money:
    return Money.of(amount, currency)


USD = fx("USD", "1")


# ------------------------------------------------------------------ the $50 boundary


def test_a_usd_subtotal_of_exactly_50_00_pays_shipping() -> None:
    priced = price_cart([(product("25.00"), 2)], USD, POLICY)
    assert priced.subtotal == money("50.00", "USD")
    assert priced.shipping_fee == money("4.95", "USD")
    assert priced.total == money("54.95", "USD")
    assert priced.free_shipping_missing == money("0.01", "USD")
    assert not priced.free_shipping


def test_a_usd_subtotal_of_50_01_ships_free() -> None:
    priced = price_cart([(product("25.00"), 1), (product("25.01", "NS-ADJ-M"), 1)], USD, POLICY)
    assert priced.subtotal == money("50.01", "USD")
    assert priced.base_subtotal == money("50.01", "USD")
    assert priced.shipping_fee == money("0.00", "USD")
    assert priced.total == money("50.01", "USD")
    assert priced.free_shipping_missing == money("0.00", "USD")
    assert priced.free_shipping


def test_the_eur_boundary_at_a_fixed_rate() -> None:
    eur = fx("EUR", "0.9")  # 45.00 EUR is worth exactly 50.00 USD
    at_boundary = price_cart([(product("50.00"), 1)], eur, POLICY)
    assert at_boundary.subtotal == money("45.00", "EUR")
    assert at_boundary.base_subtotal == money("50.00", "USD")
    assert at_boundary.shipping_fee == money("4.95", "EUR")
    assert at_boundary.total == money("49.95", "EUR")
    assert at_boundary.free_shipping_missing == money("0.01", "EUR")

    # 50.02 USD -> 45.018 -> 45.02 EUR, worth 50.0222... -> 50.02 USD: free.
    above = price_cart([(product("50.02"), 1)], eur, POLICY)
    assert above.subtotal == money("45.02", "EUR")
    assert above.base_subtotal == money("50.02", "USD")
    assert above.shipping_fee == money("0.00", "EUR")
    assert above.total == money("45.02", "EUR")


def test_one_eur_cent_above_the_boundary_ships_free() -> None:
    eur = fx("EUR", "0.9")
    # 45.01 EUR / 0.9 = 50.0111... -> 50.01 USD: above 50.00.
    assert value_in_usd(money("45.01", "EUR"), eur) == money("50.01", "USD")
    assert smallest_free_shipping_subtotal(eur, POLICY) == money("45.01", "EUR")


def test_the_jpy_boundary_at_a_fixed_rate() -> None:
    jpy = fx("JPY", "150")
    at_boundary = price_cart([(product("10.00"), 5)], jpy, POLICY)  # 1500 JPY x 5
    assert at_boundary.subtotal == money("7500", "JPY")
    assert at_boundary.base_subtotal == money("50.00", "USD")
    assert at_boundary.shipping_fee == money("700", "JPY")
    assert at_boundary.total == money("8200", "JPY")
    assert at_boundary.free_shipping_missing == money("1", "JPY")

    # 7501 JPY / 150 = 50.00666... -> 50.01 USD: free.
    assert value_in_usd(money("7501", "JPY"), jpy) == money("50.01", "USD")
    assert smallest_free_shipping_subtotal(jpy, POLICY) == money("7501", "JPY")


def test_a_half_cent_tie_in_the_usd_value_rounds_to_even_and_pays_shipping() -> None:
    jpy = fx("JPY", "200")
    # 10001 / 200 = 50.005 exactly: half-even gives 50.00, which is not above 50.00.
    assert value_in_usd(money("10001", "JPY"), jpy) == money("50.00", "USD")
    assert value_in_usd(money("10002", "JPY"), jpy) == money("50.01", "USD")
    assert smallest_free_shipping_subtotal(jpy, POLICY) == money("10002", "JPY")


@pytest.mark.parametrize(
    ("currency", "rate"),
    [
        ("USD", "1"),
        ("EUR", "0.9235"),
        ("EUR", "0.9"),
        ("GBP", "0.7890"),
        ("CAD", "1.3650"),
        ("AUD", "1.5120"),
        ("JPY", "151.37"),
        ("JPY", "150"),
        ("JPY", "200"),
        ("EUR", "1.000000000001"),
        ("EUR", "2"),
    ],
)
@pytest.mark.parametrize("free_above", ["50.00", "50.01", "49.99", "75.55"])
def test_the_smallest_free_shipping_subtotal_is_exactly_the_boundary(
    currency: str, rate: str, free_above: str
) -> None:
    # With an odd last cent (50.01), a USD value on the half-cent tie rounds up, above it:
    # 100.03 EUR at 2 is 50.015 -> 50.02 and ships free, but 100.04 was called the smallest.
    policy = ShippingPolicy.from_fees({"USD": "4.95"}, free_above_usd=Decimal(free_above))
    quote = fx(currency, rate)
    threshold = Money.of(free_above, "USD")
    smallest = smallest_free_shipping_subtotal(quote, policy)
    one_unit_less = smallest - Money.of(quote.currency.quantum, currency)
    assert value_in_usd(smallest, quote) > threshold
    assert not value_in_usd(one_unit_less, quote) > threshold


# ------------------------------------------------------------------ conversion and rounding


@pytest.mark.parametrize(
    ("price_usd", "currency", "rate", "expected"),
    [
        ("10.00", "EUR", "0.9235", "9.24"),  # 9.235 is a tie: half-even goes to the even 9.24
        ("0.15", "EUR", "1.5", "0.22"),  # 0.225: tie, the even neighbour is 0.22 (down)
        ("0.25", "EUR", "1.5", "0.38"),  # 0.375: tie, the even neighbour is 0.38 (up)
        ("9.95", "EUR", "0.9235", "9.19"),  # 9.188825
        ("12.97", "JPY", "150", "1946"),  # 1945.5: tie, up to the even 1946
        ("12.99", "JPY", "150", "1948"),  # 1948.5: tie, down to the even 1948
        ("9.95", "JPY", "151.37", "1506"),  # 1506.1315
        ("34.99", "GBP", "0.7890", "27.61"),  # 27.60711
    ],
)
def test_unit_prices_are_converted_and_rounded_half_even(
    price_usd: str, currency: str, rate: str, expected: str
) -> None:
    assert unit_price(product(price_usd), fx(currency, rate)) == money(expected, currency)


def test_line_totals_multiply_the_rounded_unit_price_and_the_subtotal_sums_them() -> None:
    eur = fx("EUR", "0.9235")
    priced = price_cart(
        [
            (product("9.95", "MB-SPIKY-8CM"), 3),  # 9.19 x 3 = 27.57 (not 9.188825 x 3 rounded)
            (product("34.99", "NS-ADJ-M"), 1),  # 32.313265 -> 32.31
            (product("6.49", "TS-GEL-2PK"), 2),  # 5.993515 -> 5.99 x 2 = 11.98
        ],
        eur,
        POLICY,
    )
    assert [line.unit_price for line in priced.lines] == [
        money("9.19", "EUR"),
        money("32.31", "EUR"),
        money("5.99", "EUR"),
    ]
    assert [line.line_total for line in priced.lines] == [
        money("27.57", "EUR"),
        money("32.31", "EUR"),
        money("11.98", "EUR"),
    ]
    assert priced.subtotal == money("71.86", "EUR")
    assert priced.base_subtotal == money("77.81", "USD")  # 71.86 / 0.9235 = 77.8126...
    assert priced.shipping_fee == money("0.00", "EUR")
    assert priced.total == money("71.86", "EUR")


def test_a_small_jpy_cart_pays_the_jpy_flat_fee() -> None:
    jpy = fx("JPY", "151.37")
    priced = price_cart([(product("9.95"), 2), (product("6.49", "TS-GEL-2PK"), 1)], jpy, POLICY)
    # 1506 x 2 + 982 (6.49 x 151.37 = 982.3913)
    assert priced.subtotal == money("3994", "JPY")
    assert priced.base_subtotal == money("26.39", "USD")  # 3994 / 151.37 = 26.3857...
    assert priced.shipping_fee == money("700", "JPY")
    assert priced.total == money("4694", "JPY")
    # 50.005 x 151.37 = 7569.25685 -> the first whole yen above it is 7570.
    assert priced.free_shipping_missing == money("3576", "JPY")


def test_an_empty_cart_costs_nothing_and_misses_the_whole_threshold() -> None:
    priced = price_cart([], USD, POLICY)
    assert priced.subtotal == money("0.00", "USD")
    assert priced.shipping_fee == money("0.00", "USD")
    assert priced.total == money("0.00", "USD")
    assert priced.free_shipping_missing == money("50.01", "USD")
    assert not priced.free_shipping


def test_the_threshold_and_fees_are_configurable() -> None:
    policy = ShippingPolicy.from_fees({"USD": "2.50"}, free_above_usd=Decimal("20.00"))
    assert price_cart([(product("20.00"), 1)], USD, policy).shipping_fee == money("2.50", "USD")
    assert price_cart([(product("20.01"), 1)], USD, policy).shipping_fee == money("0.00", "USD")


def test_a_threshold_no_amount_could_reach_leaves_what_is_missing_unknown() -> None:
    # Allowed by the settings (15 integer digits) and the plain way to switch free shipping
    # off: the amount missing, converted, passed the contract's limit, and every checkout,
    # cart view and abandoned-cart sweep of the currency failed on it.
    policy = ShippingPolicy.from_fees(
        {"USD": "4.95", "JPY": "700"}, free_above_usd=Decimal("999999999999999.99")
    )

    for rate in (USD, fx("JPY", "151.37")):
        priced = price_cart([(product("20.00"), 1)], rate, policy)
        assert priced.free_shipping_missing is None
        assert not priced.free_shipping
        assert priced.total == priced.subtotal + policy.flat_fee(rate.currency)


def test_a_currency_whose_fee_is_zero_ships_free_with_nothing_missing() -> None:
    policy = ShippingPolicy.from_fees({"USD": "4.95", "EUR": "0.00"})

    priced = price_cart([(product("20.00"), 1)], fx("EUR", "0.9235"), policy)

    assert priced.free_shipping
    assert priced.free_shipping_missing == money("0.00", "EUR")


def test_amounts_past_the_contracts_limit_are_refused_by_name() -> None:
    # Each input is within its own bounds; the product of price, rate and quantity is not.
    with pytest.raises(AmountTooLarge, match="in JPY pass the largest amount an order can"):
        price_cart([(product("999999999.99"), 10_000)], fx("JPY", "151.37"), POLICY)

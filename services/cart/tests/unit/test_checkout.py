"""Checkout decisions: every reason at once, or the full order snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from orderflow_cart.domain.cart import MAX_CART_PRODUCTS, Cart
from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.checkout import (
    Accepted,
    CartLimits,
    CheckoutRules,
    Rejected,
    decide_checkout,
    order_id_for,
    order_placed,
)
from orderflow_cart.domain.pricing import ShippingPolicy
from orderflow_cart.domain.rates import FxRate
from orderflow_contracts.events import (
    CheckoutRejected,
    CheckoutRejectionCode,
    CheckoutRequested,
    PaymentInput,
    ShippingAddressInput,
)
from orderflow_contracts.money import Currency, Money

TOKEN = "tok_visa_approve"
AS_OF = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
RULES = CheckoutRules(
    shipping=ShippingPolicy.from_fees({"USD": "4.95", "EUR": "4.95", "JPY": "700"}),
    limits=CartLimits(max_line_quantity=5, max_lines=3),
)
PRODUCTS = {
    "MB-SPIKY-8CM": Product("MB-SPIKY-8CM", "Spiky massage ball 8 cm", Decimal("9.95")),
    "NS-ADJ-M": Product("NS-ADJ-M", "Adjustable night splint M", Decimal("34.99")),
}
EUR = FxRate(Currency.EUR, Decimal("0.9235"), AS_OF, "seed-file")
ADDRESS = {
    "recipient_name": "Ada Lovelace",
    "line1": "12 Example Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def request(
    cart_id: str = "cart-1",
    *,
    address: dict[str, Any] | None = ADDRESS,
    method: str = "visa",
    token: str | None = TOKEN,
) -> CheckoutRequested:
    return CheckoutRequested(
        cart_id=cart_id,
        customer_id="cust-7",
        email="ada@example.com",
        shipping_address=None if address is None else ShippingAddressInput(**address),
        payment=PaymentInput.model_validate(
            {
                "method": method,
                "provider_token": token,
                "card": {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030},
            }
        ),
    )


def cart(lines: dict[str, int], currency: str | None = "EUR") -> Cart:
    return Cart(cart_id="cart-1", currency=currency, lines=dict(lines))


def codes(decision: Accepted | Rejected) -> list[tuple[str, str | None]]:
    assert isinstance(decision, Rejected)
    return [(reason.code, reason.sku) for reason in decision.reasons]


def test_an_accepted_checkout_becomes_a_full_order_snapshot() -> None:
    the_cart = cart({"MB-SPIKY-8CM": 2, "NS-ADJ-M": 1})
    the_request = request()
    decision = decide_checkout(the_cart, the_request, PRODUCTS, EUR, RULES)
    assert isinstance(decision, Accepted)
    placed = order_placed(the_cart, the_request, decision)

    assert placed.order_id == order_id_for("cart-1")
    assert placed.currency is Currency.EUR
    assert [(x.sku, x.quantity, x.unit_price, x.line_total) for x in placed.lines] == [
        ("MB-SPIKY-8CM", 2, Money.of("9.19", "EUR"), Money.of("18.38", "EUR")),
        ("NS-ADJ-M", 1, Money.of("32.31", "EUR"), Money.of("32.31", "EUR")),
    ]
    assert placed.subtotal == Money.of("50.69", "EUR")
    assert placed.base_subtotal == Money.of("54.89", "USD")
    assert placed.shipping_fee == Money.of("0.00", "EUR")
    assert placed.total == Money.of("50.69", "EUR")
    assert (placed.fx.base_currency, placed.fx.quote_currency) == (Currency.USD, Currency.EUR)
    assert (placed.fx.rate, placed.fx.as_of, placed.fx.source) == (
        Decimal("0.9235"),
        AS_OF,
        "seed-file",
    )
    assert placed.ship_to.model_dump() == {**ADDRESS, "line2": None, "region": None}
    assert placed.payment.method == "visa"
    assert placed.payment.provider_token == "tok_visa_approve"
    assert placed.payment.card is not None
    assert placed.payment.card.last4 == "4242"


def test_every_reason_is_reported_at_once() -> None:
    the_cart = cart({"MB-SPIKY-8CM": 6, "XX-GONE": 1, "NS-ADJ-M": 1, "HC-SIL-PAIR": 1}, "XYZ")
    decision = decide_checkout(
        the_cart,
        request(address={**ADDRESS, "line1": "  ", "country": "Germany"}, token=None),
        PRODUCTS,
        None,
        RULES,
    )
    # In the order of the README's table (unknown products before quantities), line by line
    # within each rule: per line, a quantity came first, before the next line's unknown SKU.
    assert codes(decision) == [
        ("unknown_sku", "XX-GONE"),
        ("unknown_sku", "HC-SIL-PAIR"),
        ("quantity_out_of_bounds", "MB-SPIKY-8CM"),
        ("quantity_out_of_bounds", None),  # four different products, at most three
        ("unsupported_currency", None),
        ("invalid_shipping_address", None),
        ("invalid_country", None),
        ("missing_payment_token", None),
    ]


def test_the_published_contract_lists_the_codes_in_the_order_reasons_are_given() -> None:
    # CheckoutRejected's schema says "in the order of the rules" and listed the payment codes
    # before the address codes, the reverse of what a checkout failing both is told.
    decisions = [
        decide_checkout(
            cart({"MB-SPIKY-8CM": 6, "XX-GONE": 1}, "XYZ"),
            request(address={**ADDRESS, "line1": "  ", "country": "Germany"}, method="amex"),
            PRODUCTS,
            None,
            RULES,
        ),
        decide_checkout(cart({}), request(address=None, token=None), {}, EUR, RULES),
    ]
    published = [code.value for code in CheckoutRejectionCode]
    for decision in decisions:
        given = [code for code, _ in codes(decision)]
        assert given == sorted(given, key=published.index)
    described = CheckoutRejected.model_json_schema()["properties"]["reasons"]["description"]
    listed = [code for code in published if f"`{code}`" in described]
    assert sorted(listed, key=described.index) == listed


def test_an_empty_cart_without_address_and_with_an_unknown_method() -> None:
    decision = decide_checkout(cart({}), request(address=None, method="amex"), {}, EUR, RULES)
    assert codes(decision) == [
        ("empty_cart", None),
        ("missing_shipping_address", None),
        ("unsupported_payment_method", None),
    ]


def test_an_unknown_method_without_a_token_is_told_both() -> None:
    decision = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(method="amex", token=None), PRODUCTS, EUR, RULES
    )
    assert codes(decision) == [
        ("unsupported_payment_method", None),
        ("missing_payment_token", None),
    ]


def test_a_message_listing_every_sold_currency_still_fits_the_contract() -> None:
    # With about a hundred currencies configured, the unsold-currency message went past 500
    # characters: the RejectionReason was invalid, and every such checkout a dead letter.
    codes_sold = [c.value for c in Currency if c.value != "CHF" and c.quantum == Decimal("0.01")]
    fees = dict.fromkeys(codes_sold[:120], "1.00")
    rules = CheckoutRules(shipping=ShippingPolicy.from_fees(fees))
    decision = decide_checkout(cart({"NS-ADJ-M": 1}, "CHF"), request(), PRODUCTS, None, rules)
    assert isinstance(decision, Rejected)
    message = decision.reasons[0].message
    assert len(message) == 500
    assert message.startswith("we do not sell in CHF; choose one of ")
    assert message.endswith("...")


def test_a_blank_or_malformed_token_and_a_blank_method_are_checkout_rejections() -> None:
    def decided(method: str, token: str | None) -> list[tuple[str, str | None]]:
        return codes(
            decide_checkout(
                cart({"NS-ADJ-M": 1}), request(method=method, token=token), PRODUCTS, EUR, RULES
            )
        )

    assert decided("visa", "  ") == [("missing_payment_token", None)]
    assert decided("visa", "tok with spaces") == [("invalid_payment_token", None)]
    assert decided("", "tok_visa_approve") == [("unsupported_payment_method", None)]
    accepted = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(token=" tok_visa_approve "), PRODUCTS, EUR, RULES
    )
    assert isinstance(accepted, Accepted)
    assert accepted.payment.provider_token == "tok_visa_approve"


def test_a_country_the_store_does_not_ship_to() -> None:
    rules = CheckoutRules(shipping=RULES.shipping, shipping_countries=frozenset({"US", "DE"}))
    decision = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(address={**ADDRESS, "country": "FR"}), PRODUCTS, EUR, rules
    )
    assert codes(decision) == [("country_not_shipped_to", None)]
    assert isinstance(decision, Rejected)
    assert decision.reasons[0].message == "we do not ship to FR"


def test_worldwide_by_default_and_country_codes_are_normalised() -> None:
    decision = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(address={**ADDRESS, "country": " fj "}), PRODUCTS, EUR, RULES
    )
    assert isinstance(decision, Accepted)
    assert decision.ship_to.country == "FJ"


def test_a_currency_with_a_fee_but_no_rate_is_unsupported() -> None:
    decision = decide_checkout(cart({"NS-ADJ-M": 1}, "JPY"), request(), PRODUCTS, None, RULES)
    assert codes(decision) == [("unsupported_currency", None)]
    assert isinstance(decision, Rejected)
    # JPY is sold: "we do not sell in JPY; choose one of EUR, JPY, USD" contradicted itself.
    assert decision.reasons[0].message == (
        "no current exchange rate for JPY: choose another currency for now"
    )
    unsold = decide_checkout(cart({"NS-ADJ-M": 1}, "CHF"), request(), PRODUCTS, None, RULES)
    assert isinstance(unsold, Rejected)
    assert unsold.reasons[0].message == "we do not sell in CHF; choose one of EUR, JPY, USD"


def test_a_cart_without_a_selected_currency_is_priced_in_the_default_currency() -> None:
    assert RULES.cart_currency(cart({}, None)) == "USD"


def test_paypal_needs_a_token_too_and_keeps_no_card_summary() -> None:
    missing = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(method="paypal", token=None), PRODUCTS, EUR, RULES
    )
    assert codes(missing) == [("missing_payment_token", None)]
    accepted = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(method="PayPal", token="pp_ref_1"), PRODUCTS, EUR, RULES
    )
    assert isinstance(accepted, Accepted)
    assert (accepted.payment.method, accepted.payment.card) == ("paypal", None)


def test_address_fields_are_trimmed_and_blank_optional_ones_dropped() -> None:
    decision = decide_checkout(
        cart({"NS-ADJ-M": 1}),
        request(address={**ADDRESS, "city": " Berlin ", "line2": "   ", "postal_code": ""}),
        PRODUCTS,
        EUR,
        RULES,
    )
    assert isinstance(decision, Accepted)
    assert (decision.ship_to.city, decision.ship_to.line2, decision.ship_to.postal_code) == (
        "Berlin",
        None,
        None,
    )


def test_a_too_long_postal_code_and_missing_fields_are_named() -> None:
    decision = decide_checkout(
        cart({"NS-ADJ-M": 1}),
        request(address={"postal_code": "1" * 21, "country": "DE"}),
        PRODUCTS,
        EUR,
        RULES,
    )
    assert isinstance(decision, Rejected)
    assert [(r.code, r.message) for r in decision.reasons] == [
        ("invalid_shipping_address", "the shipping address lacks: recipient_name, line1, city"),
        ("invalid_shipping_address", "the postal code is longer than 20 characters"),
    ]


def test_the_order_id_is_derived_from_the_cart_id() -> None:
    assert order_id_for("cart-1") == order_id_for("cart-1")
    assert order_id_for("cart-1") != order_id_for("cart-2")


def test_a_cart_stored_with_thousands_of_unknown_products_is_answered_within_a_message() -> None:
    # Stored before carts were bounded: 8,700 per-product reasons made a CheckoutRejected
    # larger than Kafka takes, and the checkout was never answered.
    the_cart = cart({f"GONE-{n}": 1 for n in range(9000)})
    decision = decide_checkout(the_cart, request(), PRODUCTS, EUR, RULES)
    assert isinstance(decision, Rejected)
    unknown = [reason for reason in decision.reasons if reason.code == "unknown_sku"]
    assert len(unknown) == MAX_CART_PRODUCTS
    assert ("quantity_out_of_bounds", None) in codes(decision)
    rejected = CheckoutRejected(cart_id="cart-1", reasons=list(decision.reasons))
    assert len(rejected.model_dump_json()) < 200_000


def test_a_cart_whose_total_passes_the_largest_amount_is_refused_not_failed() -> None:
    # Price, rate and quantity each within bounds, their product not: the checkout raised,
    # was retried and dead-lettered, and the customer never got an answer.
    dear = Product("GOLD-BAR", "Gold bar", Decimal("999999999.99"))
    jpy = FxRate(Currency.JPY, Decimal("151.37"), AS_OF, "seed-file")

    rules = CheckoutRules(shipping=RULES.shipping, limits=CartLimits(10_000, max_lines=3))

    decision = decide_checkout(
        cart({"GOLD-BAR": 10_000}, "JPY"), request(), {"GOLD-BAR": dear}, jpy, rules
    )

    assert isinstance(decision, Rejected)
    (reason,) = decision.reasons
    assert reason.code == "total_too_large"
    assert "in JPY pass the largest amount an order can carry" in reason.message


@pytest.mark.parametrize("written", ["\u00df", "\ufb01", "\u017fe", "\u0131t", "\ufb06"])
def test_a_country_upper_cased_into_a_code_only_by_unicode_is_refused(written: str) -> None:
    # Sharp s upper-cases to "SS" (South Sudan), the "fi" ligature to "FI", the long s and
    # the dotless i to "SE" and "IT": codes the customer never wrote.
    address = {**ADDRESS, "country": written}
    decision = decide_checkout(
        cart({"NS-ADJ-M": 1}), request(address=address), PRODUCTS, EUR, RULES
    )
    assert codes(decision) == [("invalid_country", None)]

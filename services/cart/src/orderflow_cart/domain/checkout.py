"""Deciding a checkout: every reason to refuse it at once, or the order it becomes.

Reasons are checked in a fixed order (cart contents, currency, shipping address, payment) and
all of them are reported, so the customer can fix everything in one go.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from orderflow_contracts.countries import is_iso_country
from orderflow_contracts.events import (
    CheckoutRejectionCode,
    CheckoutRequested,
    OrderLine,
    OrderPlaced,
    PaymentMethodRef,
    PostalAddress,
    RejectionReason,
    ShippingAddressInput,
)
from orderflow_contracts.money import Currency
from orderflow_contracts.primitives import (
    CARD_PAYMENT_METHODS,
    PROVIDER_TOKEN_PATTERN,
    SUPPORTED_PAYMENT_METHODS,
    clip_text,
)

from orderflow_cart.domain.cart import MAX_CART_PRODUCTS, Cart
from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.pricing import AmountTooLarge, PricedCart, ShippingPolicy, price_cart
from orderflow_cart.domain.rates import FxRate

Code = CheckoutRejectionCode

ORDER_ID_NAMESPACE: Final = uuid.UUID("5b0d8f8e-3c1a-4a8e-9a57-0f6f2b7c9d11")
MAX_POSTAL_CODE_LENGTH: Final = 20


def order_id_for(cart_id: str) -> uuid.UUID:
    """The id of the one order a cart can become: derived from the cart id, so a repeated or
    replayed checkout can never mint a second order."""
    return uuid.uuid5(ORDER_ID_NAMESPACE, f"cart:{cart_id}")


@dataclass(frozen=True)
class CartLimits:
    max_line_quantity: int = 20
    """Units of one SKU a cart may check out with."""
    max_lines: int = 50
    """Different SKUs a cart may check out with."""


@dataclass(frozen=True)
class CheckoutRules:
    shipping: ShippingPolicy
    limits: CartLimits = CartLimits()
    shipping_countries: frozenset[str] | None = None
    """ISO codes the store ships to; None ships worldwide."""
    default_currency: Currency = Currency.USD
    """The currency of a cart whose customer never selected one."""

    def cart_currency(self, cart: Cart) -> str:
        return cart.currency or self.default_currency.value

    def sold_currency(self, code: str) -> Currency | None:
        """The currency if the store sells in it (it has a shipping fee), else None."""
        currency = Currency.__members__.get(code)
        return currency if currency in self.shipping.currencies else None


@dataclass(frozen=True)
class Accepted:
    priced: PricedCart
    ship_to: PostalAddress
    payment: PaymentMethodRef


@dataclass(frozen=True)
class Rejected:
    reasons: tuple[RejectionReason, ...]


def _reason(code: Code, message: str, sku: str | None = None) -> RejectionReason:
    # A message listing what is configured (every sold currency) must still fit the contract.
    return RejectionReason(code=code.value, message=clip_text(message), sku=sku)


def total_too_large(error: AmountTooLarge) -> RejectionReason:
    """The reason a cart too large to price is refused (checkout, and the read API)."""
    return _reason(Code.TOTAL_TOO_LARGE, str(error))


def cart_problems(
    cart: Cart,
    products: Mapping[str, Product],
    fx: FxRate | None,
    rules: CheckoutRules,
) -> list[RejectionReason]:
    """What is wrong with the cart itself (contents and currency); shown by the read API too."""
    reasons = []
    if not cart.lines:
        reasons.append(_reason(Code.EMPTY_CART, "the cart is empty"))
    # In the order of the rules (unknown products, then quantities), line by line within each;
    # a cart stored before carts were bounded lists its first MAX_CART_PRODUCTS lines, so that
    # the rejection can still be published.
    lines = list(cart.lines.items())[:MAX_CART_PRODUCTS]
    for sku, _ in lines:
        if sku not in products:
            reasons.append(_reason(Code.UNKNOWN_SKU, f"{sku} is not sold", sku))
    for sku, quantity in lines:
        if quantity > rules.limits.max_line_quantity:
            reasons.append(
                _reason(
                    Code.QUANTITY_OUT_OF_BOUNDS,
                    f"{quantity} x {sku}: at most {rules.limits.max_line_quantity} units of one "
                    "product per order",
                    sku,
                )
            )
    if len(cart.lines) > rules.limits.max_lines:
        reasons.append(
            _reason(
                Code.QUANTITY_OUT_OF_BOUNDS,
                f"{len(cart.lines)} different products: at most {rules.limits.max_lines} per order",
            )
        )
    code = rules.cart_currency(cart)
    if rules.sold_currency(code) is None:
        sold = ", ".join(sorted(c.value for c in rules.shipping.currencies))
        reasons.append(
            _reason(Code.UNSUPPORTED_CURRENCY, f"we do not sell in {code}; choose one of {sold}")
        )
    elif fx is None:  # sold, but no current rate: the same code, a message that says so
        reasons.append(
            _reason(
                Code.UNSUPPORTED_CURRENCY,
                f"no current exchange rate for {code}: choose another currency for now",
            )
        )
    return reasons


def _address_problems(
    given: ShippingAddressInput | None, rules: CheckoutRules
) -> tuple[list[RejectionReason], PostalAddress | None]:
    if given is None:
        return [_reason(Code.MISSING_SHIPPING_ADDRESS, "a shipping address is required")], None
    fields = {
        name: (value.strip() or None) if isinstance(value, str) else None
        for name, value in given.model_dump().items()
    }
    reasons = []
    missing = [name for name in ("recipient_name", "line1", "city") if fields[name] is None]
    if missing:
        reasons.append(
            _reason(
                Code.INVALID_SHIPPING_ADDRESS,
                f"the shipping address lacks: {', '.join(missing)}",
            )
        )
    postal_code = fields["postal_code"]
    if postal_code is not None and len(postal_code) > MAX_POSTAL_CODE_LENGTH:
        reasons.append(
            _reason(
                Code.INVALID_SHIPPING_ADDRESS,
                f"the postal code is longer than {MAX_POSTAL_CODE_LENGTH} characters",
            )
        )
    written: str = fields["country"] or ""
    # Only ASCII letters are read in any case: Unicode upper-casing turns a sharp s into "SS"
    # and the "fi" ligature into "FI", real codes the customer never wrote.
    country = written.upper() if written.isascii() else written
    if not country:
        reasons.append(_reason(Code.INVALID_COUNTRY, "the shipping address has no country"))
    elif not is_iso_country(country):
        reasons.append(
            _reason(
                Code.INVALID_COUNTRY,
                "the country must be an ISO 3166-1 alpha-2 code such as DE, US or JP",
            )
        )
    elif rules.shipping_countries is not None and country not in rules.shipping_countries:
        reasons.append(_reason(Code.COUNTRY_NOT_SHIPPED_TO, f"we do not ship to {country}"))
    if reasons:
        return reasons, None
    fields["country"] = country
    return [], PostalAddress.model_validate(fields)


def _payment_problems(
    request: CheckoutRequested,
) -> tuple[list[RejectionReason], PaymentMethodRef | None]:
    given = request.payment
    method = given.method.strip().lower()
    reasons = []  # both, when both fail: the customer fixes everything at once
    if method not in SUPPORTED_PAYMENT_METHODS:
        reasons.append(
            _reason(Code.UNSUPPORTED_PAYMENT_METHOD, "we accept visa, mastercard and paypal only")
        )
    token = (given.provider_token or "").strip()
    if not token:
        what = {"paypal": "a PayPal", "visa": "a card", "mastercard": "a card"}.get(method, "a")
        reasons.append(
            _reason(
                Code.MISSING_PAYMENT_TOKEN,
                f"{what} payment needs the provider token from the payment widget",
            )
        )
    elif not re.fullmatch(PROVIDER_TOKEN_PATTERN, token):
        reasons.append(
            _reason(
                Code.INVALID_PAYMENT_TOKEN,
                "the payment token is not one a payment widget gives: 1-255 letters, digits "
                "and _ . : -, starting with a letter or digit",
            )
        )
    if reasons:
        return reasons, None
    card = given.card if method in CARD_PAYMENT_METHODS else None
    return [], PaymentMethodRef.model_validate(
        {"method": method, "provider_token": token, "card": card}
    )


def decide_checkout(
    cart: Cart,
    request: CheckoutRequested,
    products: Mapping[str, Product],
    fx: FxRate | None,
    rules: CheckoutRules,
) -> Accepted | Rejected:
    """Accept the checkout (priced, with a validated address and payment) or give every reason
    to refuse it. ``products`` holds the cart's SKUs that are on sale; ``fx`` is the rate of
    the cart's currency, if there is one."""
    reasons = cart_problems(cart, products, fx, rules)
    address_reasons, ship_to = _address_problems(request.shipping_address, rules)
    payment_reasons, payment = _payment_problems(request)
    reasons += address_reasons + payment_reasons
    if reasons:
        return Rejected(tuple(reasons))
    assert fx is not None
    assert ship_to is not None
    assert payment is not None
    lines = [(products[sku], quantity) for sku, quantity in cart.lines.items()]
    try:
        return Accepted(price_cart(lines, fx, rules.shipping), ship_to, payment)
    except AmountTooLarge as error:
        return Rejected((total_too_large(error),))


def order_placed(cart: Cart, request: CheckoutRequested, accepted: Accepted) -> OrderPlaced:
    """The full snapshot of the order a cart became."""
    priced = accepted.priced
    return OrderPlaced(
        order_id=order_id_for(cart.cart_id),
        cart_id=cart.cart_id,
        customer_id=request.customer_id,
        email=request.email,
        lines=[
            OrderLine(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for line in priced.lines
        ],
        currency=priced.currency,
        subtotal=priced.subtotal,
        shipping_fee=priced.shipping_fee,
        total=priced.total,
        base_subtotal=priced.base_subtotal,
        fx=priced.fx.snapshot(),
        ship_to=accepted.ship_to,
        payment=accepted.payment,
    )

"""Pricing a cart in its currency, and the free-shipping rule.

The rules, in order (the contract's Money rules, shared/contracts/README.md; issue #3):

1. **Unit price**: the catalog's USD price x the rate (units of the cart currency per USD),
   rounded half-even to the currency's minor unit (cents; whole yen for JPY).
2. **Line total** = unit price x quantity (exact: no rounding after step 1).
3. **Subtotal** = the sum of the line totals (exact).
4. **Subtotal valued in USD** (``base_subtotal``) = subtotal / rate, rounded half-even to cents.
   For a USD cart it is the subtotal itself.
5. **Shipping** is free when that USD value is *above* the threshold (50.00): 50.00 pays,
   50.01 ships free. Otherwise it is the flat fee of the cart's currency. An empty cart ships
   nothing and pays no fee.
6. **Total** = subtotal + shipping fee.

Every amount stays below the contract's limit (10^15 major units): a cart whose amounts would
not is refused at checkout (``total_too_large``), and the amount still missing for free
shipping is unknown (``None``) when no amount could reach it (a threshold set beyond reach).

Why value the subtotal rather than add up USD prices: the customer sees and pays the converted
amounts, so "above $50" is judged on what they pay, converted back at the same rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Final

from orderflow_contracts.money import Currency, Money
from pydantic import ValidationError

from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.rates import BASE_CURRENCY, FxRate

DEFAULT_FREE_SHIPPING_ABOVE_USD: Final = Decimal("50.00")
DEFAULT_FLAT_FEES: Final[Mapping[str, str]] = {
    "USD": "4.95",
    "EUR": "4.95",
    "GBP": "3.95",
    "CAD": "6.95",
    "AUD": "7.95",
    "JPY": "700",
}


@dataclass(frozen=True)
class ShippingPolicy:
    """Free shipping above ``free_above_usd`` (in USD); else a flat fee per currency.

    The currencies with a flat fee are the currencies the store sells in.
    """

    flat_fees: Mapping[Currency, Money]
    free_above_usd: Decimal = DEFAULT_FREE_SHIPPING_ABOVE_USD

    @classmethod
    def from_fees(
        cls, fees: Mapping[str, str], free_above_usd: Decimal = DEFAULT_FREE_SHIPPING_ABOVE_USD
    ) -> ShippingPolicy:
        return cls(
            flat_fees={Currency.of(code): Money.of(fee, code) for code, fee in fees.items()},
            free_above_usd=free_above_usd,
        )

    @property
    def currencies(self) -> frozenset[Currency]:
        return frozenset(self.flat_fees)

    def flat_fee(self, currency: Currency) -> Money:
        return self.flat_fees[currency]


class AmountTooLarge(ValueError):
    """A cart whose amounts in its currency would pass the contract's limit for an amount."""


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


@dataclass(frozen=True)
class PricedCart:
    """A cart priced in ``currency`` at ``fx``; every amount follows the module's rules."""

    currency: Currency
    lines: tuple[PricedLine, ...]
    subtotal: Money
    base_subtotal: Money
    shipping_fee: Money
    total: Money
    free_shipping_missing: Money | None
    """How much more the subtotal needs (in the cart currency) to ship free; zero once free
    (or when the currency's fee is zero); None when no amount could reach the threshold."""
    fx: FxRate

    @property
    def free_shipping(self) -> bool:
        return bool(self.lines) and self.shipping_fee.is_zero


def unit_price(product: Product, fx: FxRate) -> Money:
    """The product's USD price converted at ``fx`` and rounded half-even to the minor unit."""
    return Money.of(product.price_usd, BASE_CURRENCY).convert(fx.rate, fx.currency)


def value_in_usd(amount: Money, fx: FxRate) -> Money:
    """``amount`` (in ``fx.currency``) divided by the rate, rounded half-even to cents."""
    if amount.currency != fx.currency:
        raise ValueError(f"{amount} is not in {fx.currency.value}")
    if fx.currency == BASE_CURRENCY:
        return amount
    with localcontext() as context:
        # 64 digits: far more than a quotient of two numbers of <= 30 digits needs to be
        # rounded correctly to cents (a half-cent tie is then an exact tie).
        context.prec = 64
        return Money.rounded(amount.amount / fx.rate, BASE_CURRENCY)


def smallest_free_shipping_subtotal(fx: FxRate, policy: ShippingPolicy) -> Money:
    """The smallest subtotal in ``fx.currency`` whose USD value is above the threshold.

    The USD value rounds half-even to cents, so it is above the threshold T when the
    unrounded quotient exceeds T + half a cent, and also at exactly T + 0.005 when T's last
    cent is odd (the tie then rounds up, to the even cent above). The first multiple of the
    currency's minor unit above (T + 0.005) x rate is the answer, or the one below it when
    that one sits on such a tie: the rule that prices the cart (``value_in_usd``) decides.
    """
    quantum = fx.currency.quantum
    threshold = Money.of(policy.free_above_usd, BASE_CURRENCY)
    with localcontext() as context:
        context.prec = 64
        boundary = (policy.free_above_usd + BASE_CURRENCY.quantum / 2) * fx.rate
        steps = math.floor(boundary / quantum) + 1
    below = Money.of(quantum * (steps - 1), fx.currency)
    if steps > 1 and value_in_usd(below, fx) > threshold:
        return below
    return Money.of(quantum * steps, fx.currency)


def price_cart(
    lines: Sequence[tuple[Product, int]], fx: FxRate, policy: ShippingPolicy
) -> PricedCart:
    """Price ``lines`` (product, quantity) in ``fx.currency`` following the module's rules;
    :class:`AmountTooLarge` when an amount would pass the contract's limit."""
    currency = fx.currency
    priced = []
    try:
        for product, quantity in lines:
            unit = unit_price(product, fx)
            priced.append(PricedLine(product.sku, product.name, quantity, unit, unit * quantity))
        subtotal = Money.total((line.line_total for line in priced), currency)
        base_subtotal = value_in_usd(subtotal, fx)
        threshold = Money.of(policy.free_above_usd, BASE_CURRENCY)
        if not priced or base_subtotal > threshold:
            shipping_fee = Money.zero(currency)
        else:
            shipping_fee = policy.flat_fee(currency)
        total = subtotal + shipping_fee
    except ValidationError as error:  # Money refuses an amount of 10^15 major units or more
        raise AmountTooLarge(
            f"the cart's amounts in {currency.value} pass the largest amount an order can carry "
            "(below 10^15)"
        ) from error
    return PricedCart(
        currency=currency,
        lines=tuple(priced),
        subtotal=subtotal,
        base_subtotal=base_subtotal,
        shipping_fee=shipping_fee,
        total=total,
        free_shipping_missing=_free_shipping_missing(
            subtotal, base_subtotal > threshold, fx, policy
        ),
        fx=fx,
    )


def _free_shipping_missing(
    subtotal: Money, above_threshold: bool, fx: FxRate, policy: ShippingPolicy
) -> Money | None:
    if above_threshold:
        return Money.zero(subtotal.currency)
    if policy.flat_fee(subtotal.currency).is_zero:
        return Money.zero(subtotal.currency)  # nothing to spend for: it ships free anyway
    try:
        return smallest_free_shipping_subtotal(fx, policy) - subtotal
    except ValidationError:  # a threshold beyond any amount of this currency
        return None

"""What the storefront's read API shows: a cart as it would be priced now, or as the order it
became; the events of a cart that were not applied; the catalog in a currency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderflow_contracts.events import RejectionReason

from orderflow_cart.domain.cart import Cart
from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.checkout import CheckoutRules, cart_problems, total_too_large
from orderflow_cart.domain.pricing import AmountTooLarge, PricedCart, price_cart
from orderflow_cart.domain.rates import FxRate
from orderflow_cart.handlers.checkout import current_rate
from orderflow_cart.ports import CartUnit, SkippedSequences, UnappliedEvent


@dataclass(frozen=True)
class OpenCart:
    """An open cart with what prices it now: the products on sale among its lines, and the
    rate of its currency (None when the store does not sell in it)."""

    cart: Cart
    currency: str
    products: dict[str, Product]
    fx: FxRate | None
    priced: PricedCart | None  # the lines on sale, priced; None without a rate
    problems: list[RejectionReason]
    events_waiting: int


@dataclass(frozen=True)
class CheckedOutCart:
    """A checked-out cart with the order it became, as stored at checkout."""

    cart: Cart
    order: dict[str, Any]
    events_waiting: int


@dataclass(frozen=True)
class CartEvents:
    unapplied: list[UnappliedEvent]
    skipped: list[SkippedSequences]


async def view_cart(
    cart_id: str, uow: CartUnit, *, rules: CheckoutRules
) -> OpenCart | CheckedOutCart | None:
    """The cart and what it is priced with; None when no event of it has arrived."""
    cart = await uow.repos.carts.get(cart_id)
    if cart is None:
        return None
    waiting = len(await uow.repos.carts.waiting(cart_id))
    if cart.is_checked_out:
        order = await uow.repos.orders.snapshot_for_cart(cart_id)
        assert order is not None, "a checked-out cart has its order"
        return CheckedOutCart(cart, order, waiting)
    currency = rules.cart_currency(cart)
    products = await uow.repos.catalog.on_sale(list(cart.lines))
    fx = await current_rate(uow.repos.rates, rules, currency)
    problems = cart_problems(cart, products, fx, rules)
    priced = None
    if fx is not None:
        on_sale = [(products[sku], qty) for sku, qty in cart.lines.items() if sku in products]
        try:
            priced = price_cart(on_sale, fx, rules.shipping)
        except AmountTooLarge as error:  # shown as checkout would refuse it
            problems.append(total_too_large(error))
    return OpenCart(cart, currency, products, fx, priced, problems, waiting)


async def cart_events(cart_id: str, uow: CartUnit) -> CartEvents | None:
    """For ops: the cart's events that were not applied, and the sequences skipped."""
    if await uow.repos.carts.get(cart_id) is None:
        return None
    carts = uow.repos.carts
    return CartEvents(await carts.unapplied(cart_id), await carts.skipped(cart_id))


@dataclass(frozen=True)
class PricedCatalog:
    currency: str
    fx: FxRate
    products: list[Product]  # on sale


@dataclass(frozen=True)
class NotSoldIn:
    currency: str
    sold: list[str]  # the currencies a catalog can be priced in now (a fee and a rate)
    no_rate: bool = False  # sold, but without a current rate

    @property
    def message(self) -> str:
        why = (
            f"no current exchange rate for {self.currency}"
            if self.no_rate
            else f"we do not sell in {self.currency}"
        )
        return f"{why}; choose one of {', '.join(self.sold)}" if self.sold else why


async def catalog_in(
    currency_code: str | None, uow: CartUnit, *, rules: CheckoutRules
) -> PricedCatalog | NotSoldIn:
    """The products on sale and the rate to price them in ``currency_code`` (default: the
    store's default currency), or the currencies the store does sell in."""
    code = currency_code or rules.default_currency.value
    fx = await current_rate(uow.repos.rates, rules, code)
    if fx is None:
        # Offered only what can be priced now: a sold currency without a rate was offered by
        # the very answer that refused it.
        sold = sorted(c.value for c in rules.shipping.currencies)
        priced = [c for c in sold if await current_rate(uow.repos.rates, rules, c) is not None]
        return NotSoldIn(code, priced, no_rate=rules.sold_currency(code) is not None)
    entries = await uow.repos.catalog.entries()
    return PricedCatalog(code, fx, [entry.product for entry in entries if entry.on_sale])

"""The cart's periodic jobs: moving on from sequence gaps, and reporting abandoned carts.

Each batch of carts is one unit of work; a crash mid-round loses nothing, the next round
picks up where it stopped. A cart that keeps failing is set aside for the round, untouched,
and the others are done (``in_batches``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import structlog
from orderflow_chassis.periodic import in_batches
from orderflow_chassis.unit_of_work import Transactions
from orderflow_contracts.events import CartAbandoned, LineQuantity
from orderflow_contracts.money import Money

from orderflow_cart import metrics
from orderflow_cart.domain.cart import Cart
from orderflow_cart.domain.checkout import CheckoutRules
from orderflow_cart.domain.pricing import AmountTooLarge, price_cart
from orderflow_cart.handlers.cart_events import CartRules, catch_up
from orderflow_cart.handlers.checkout import current_rate
from orderflow_cart.ports import CartRepositories, CartUnit

log = structlog.get_logger(__name__)

JOB_BATCH_SIZE: Final = 100
JOB_MAX_BATCHES: Final = 50


async def release_overdue_gaps(
    transactions: Transactions[CartRepositories], *, cart_rules: CartRules
) -> int:
    """Apply the buffered events of carts whose sequence gap waited longer than the timeout.

    Returns how many carts were moved on.
    """

    async def overdue(uow: CartUnit, limit: int, skipping: Sequence[str]) -> list[str]:
        cutoff = uow.now - cart_rules.gap_timeout
        return await uow.repos.carts.with_overdue_gaps(cutoff, limit, skipping=skipping)

    async def move_on(uow: CartUnit, cart_ids: Sequence[str]) -> int:
        carts = uow.repos.carts
        for cart_id in cart_ids:
            cart = await carts.lock(cart_id, uow.now)
            await catch_up(uow, cart, await carts.waiting(cart_id), cart_rules)
            await carts.save(cart, uow.now)
        return len(cart_ids)

    return await in_batches(
        transactions,
        due=overdue,
        work=move_on,
        batch_size=JOB_BATCH_SIZE,
        max_batches=JOB_MAX_BATCHES,
    )


async def report_abandoned_carts(
    transactions: Transactions[CartRepositories],
    *,
    abandon_after: timedelta,
    cart_rules: CartRules,
) -> int:
    """Publish CartAbandoned for open carts with lines, idle longer than ``abandon_after``.

    Returns how many were reported. An abandoned cart is not deleted: any later edit or a
    checkout reopens it, and it can be reported again after another idle period.
    """

    async def idle(uow: CartUnit, limit: int, skipping: Sequence[str]) -> list[str]:
        return await uow.repos.carts.idle(uow.now - abandon_after, limit, skipping=skipping)

    async def report(uow: CartUnit, cart_ids: Sequence[str]) -> int:
        carts = uow.repos.carts
        for cart_id in cart_ids:
            cart = await carts.get(cart_id)
            assert cart is not None
            assert cart.last_activity_at is not None
            await uow.emit(
                CartAbandoned(
                    cart_id=cart.cart_id,
                    last_activity_at=cart.last_activity_at,
                    lines=[LineQuantity(sku=s, quantity=q) for s, q in cart.lines.items()],
                    subtotal=await _subtotal_if_priceable(uow, cart, cart_rules.checkout),
                    customer_id=cart.customer_id,
                ),
                correlation_id=cart.last_correlation_id or f"cart:{cart.cart_id}",
                causation_id=cart.last_event_id,
            )
            await carts.mark_abandoned(cart_id, uow.now)
        return len(cart_ids)

    reported = await in_batches(
        transactions,
        due=idle,
        work=report,
        batch_size=JOB_BATCH_SIZE,
        max_batches=JOB_MAX_BATCHES,
    )
    if reported:
        metrics.ABANDONED_CARTS.inc(reported)
        log.info("carts.abandoned_reported", count=reported)
    return reported


async def _subtotal_if_priceable(uow: CartUnit, cart: Cart, rules: CheckoutRules) -> Money | None:
    """The cart's subtotal in its currency; None if a line or the currency cannot be priced."""
    fx = await current_rate(uow.repos.rates, rules, rules.cart_currency(cart))
    products = await uow.repos.catalog.on_sale(list(cart.lines))
    if fx is None or len(products) != len(cart.lines):
        return None
    lines = [(products[sku], quantity) for sku, quantity in cart.lines.items()]
    try:
        return price_cart(lines, fx, rules.shipping).subtotal
    except AmountTooLarge:
        return None

"""Checkout: a cart becomes an order, or the storefront learns every reason it cannot."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from orderflow_chassis.refusal_answers import RefusedRecord
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCheckedOut,
    CheckoutRejected,
    CheckoutRejectionCode,
    CheckoutRequested,
    RejectionReason,
)
from orderflow_contracts.primitives import clip_text
from pydantic import ValidationError

from orderflow_cart import metrics
from orderflow_cart.domain.cart import Cart
from orderflow_cart.domain.checkout import CheckoutRules, Rejected, decide_checkout, order_placed
from orderflow_cart.domain.rates import FxRate
from orderflow_cart.handlers.reference_data import ReferenceData, ensure_seeded
from orderflow_cart.ports import CartUnit, Rates

log = structlog.get_logger(__name__)


async def current_rate(rates: Rates, rules: CheckoutRules, currency_code: str) -> FxRate | None:
    """The rate of a currency the store sells in, or None."""
    currency = rules.sold_currency(currency_code)
    return None if currency is None else await rates.current(currency)


async def check_out(
    uow: CartUnit,
    cart: Cart,
    envelope: Envelope,
    request: CheckoutRequested,
    *,
    rules: CheckoutRules,
    reference_data: ReferenceData,
) -> None:
    """Turn the cart into an order (OrderPlaced + CartCheckedOut), or say every reason not to
    (CheckoutRejected; the cart stays open)."""
    await ensure_seeded(uow, reference_data=reference_data)
    products = await uow.repos.catalog.on_sale(list(cart.lines))
    fx = await current_rate(uow.repos.rates, rules, rules.cart_currency(cart))
    decision = decide_checkout(cart, request, products, fx, rules)
    if isinstance(decision, Rejected):
        cart.customer_id = request.customer_id
        await uow.emit(
            CheckoutRejected(cart_id=cart.cart_id, reasons=list(decision.reasons)), cause=envelope
        )
        count_rejection([reason.code for reason in decision.reasons])
        return
    placed = order_placed(cart, request, decision)
    cart.check_out(placed.order_id, request.customer_id)
    await uow.repos.orders.add(placed, uow.now)
    await uow.emit(placed, cause=envelope)
    await uow.emit(
        CartCheckedOut(
            cart_id=cart.cart_id, order_id=placed.order_id, customer_id=request.customer_id
        ),
        cause=envelope,
    )
    metrics.CHECKOUTS.labels("placed").inc()
    log.info(
        "checkout.order_placed",
        order_id=str(placed.order_id),
        total=str(placed.total),
        lines=len(placed.lines),
        free_shipping=placed.shipping_fee.is_zero,
    )


def count_rejection(codes: Sequence[str]) -> None:
    """A CheckoutRejected published: counted and logged by its reason codes, whatever refused
    it (a rule, or the checkout's sequence number)."""
    metrics.CHECKOUTS.labels("rejected").inc()
    for code in codes:
        metrics.REJECTION_REASONS.labels(code).inc()
    log.info("checkout.rejected", codes=list(codes))


def answer_refused_checkout(refused: RefusedRecord) -> CheckoutRejected | None:
    """A dead-lettered checkout is answered all the same, so the storefront waiting on it hears
    why: refused before it reached the cart (it breaks the contract, or holds card data),
    ``invalid_request`` with the cause; set aside by the cart itself (a failure its retries did
    not get past), ``checkout_failed``, the cause kept for ops. A checkout whose cart id
    cannot be read (or is no cart id) cannot be answered."""
    if refused.event_type != CheckoutRequested.event_type or refused.key is None:
        return None
    if refused.by_handler:
        code = CheckoutRejectionCode.CHECKOUT_FAILED
        message = (
            f"the checkout could not be processed and was set aside for ops ({refused.code}); "
            "nothing was ordered: send it again later"
        )
    else:
        code = CheckoutRejectionCode.INVALID_REQUEST
        message = f"the checkout request was refused ({refused.code}): {refused.reason}"
    try:
        rejected = CheckoutRejected(
            cart_id=refused.key,
            reasons=[RejectionReason(code=code, message=clip_text(message))],
        )
    except ValidationError:
        return None
    count_rejection([code])
    return rejected

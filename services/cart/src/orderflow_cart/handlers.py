"""The cart's use cases. Each runs in one transaction (the consumer's, or a job's own) and
emits events only through the outbox.

* ``receive_cart_event``: every storefront cart event. It puts the cart's events in the
  storefront's order (see ``domain.sequencing``) and applies each one: ``edit_cart`` for the
  edits, ``check_out`` for a checkout request.
* ``release_overdue_gaps``: job; applies buffered events whose missing predecessor never came.
* ``report_abandoned_carts``: job; publishes ``CartAbandoned`` for idle carts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from orderflow_chassis.clock import Clock
from orderflow_chassis.consumer import HandlerContext
from orderflow_chassis.database import Connection
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.runtime import RuntimeResources
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartAbandoned,
    CartCheckedOut,
    CartCurrencySelected,
    CartItemAdded,
    CartItemQuantityChanged,
    CartItemRemoved,
    CheckoutRejected,
    CheckoutRequested,
    Event,
    LineQuantity,
)
from orderflow_contracts.money import Money

from orderflow_cart import metrics
from orderflow_cart.adapters.carts import CartRepository
from orderflow_cart.adapters.catalog import CatalogRepository, RatesRepository
from orderflow_cart.adapters.orders import OrderRepository
from orderflow_cart.adapters.reference_data import ReferenceData
from orderflow_cart.domain.cart import Cart, CartEdit
from orderflow_cart.domain.checkout import CheckoutRules, Rejected, decide_checkout, order_placed
from orderflow_cart.domain.pricing import price_cart
from orderflow_cart.domain.rates import FxRate
from orderflow_cart.domain.sequencing import (
    Admission,
    Waiting,
    admit,
    ready_after,
    release_overdue,
)

log = structlog.get_logger(__name__)

StorefrontCartEvent = (
    CartItemAdded | CartItemRemoved | CartItemQuantityChanged | CartCurrencySelected
) | CheckoutRequested
STOREFRONT_CART_EVENTS: Final = (
    CartItemAdded,
    CartItemRemoved,
    CartItemQuantityChanged,
    CartCurrencySelected,
    CheckoutRequested,
)
JOB_BATCH_SIZE: Final = 100
JOB_MAX_BATCHES: Final = 50


class UnappliedReason:
    """Why a received cart event was not applied (``unapplied_cart_events.reason``)."""

    CART_CHECKED_OUT: Final = "cart_checked_out"
    ALREADY_CHECKED_OUT: Final = "already_checked_out"
    STALE_SEQUENCE: Final = Admission.STALE.value
    DUPLICATE_SEQUENCE: Final = Admission.DUPLICATE.value


@dataclass(frozen=True)
class CartDependencies:
    """What the use cases need besides their event: rules, time and repositories."""

    rules: CheckoutRules
    clock: Clock
    gap_timeout: timedelta
    abandon_after: timedelta
    carts: CartRepository
    catalog: CatalogRepository
    rates: RatesRepository
    orders: OrderRepository
    reference_data: ReferenceData

    async def current_rate(self, connection: Connection, currency_code: str) -> FxRate | None:
        """The rate of a currency the store sells in, or None."""
        currency = self.rules.sold_currency(currency_code)
        return None if currency is None else await self.rates.current(connection, currency)


@dataclass
class _Work:
    """One transaction's worth of cart work."""

    deps: CartDependencies
    connection: Connection
    outbox: Outbox
    now: datetime

    async def emit(self, cause: Envelope, event: Event) -> None:
        # Correlated with (and caused by) the event being applied, which for a buffered event
        # is not the envelope the consumer is handling right now.
        await self.outbox.add(
            self.connection,
            event,
            correlation_id=cause.correlation_id,
            causation_id=str(cause.event_id),
        )

    async def record_unapplied(self, envelope: Envelope, reason: str, detail: str) -> None:
        await self.deps.carts.record_unapplied(
            self.connection, envelope, reason=reason, detail=detail, now=self.now
        )
        metrics.UNAPPLIED_EVENTS.labels(reason).inc()
        log.info("cart.event_not_applied", reason=reason, sequence=envelope.sequence)


# ---------------------------------------------------------------------------- consumer


async def receive_cart_event(
    event: StorefrontCartEvent, context: HandlerContext, *, deps: CartDependencies
) -> None:
    """Apply a storefront cart event in its cart's order (buffering it if it is early)."""
    work = _Work(deps, context.connection, context.outbox, deps.clock.now())
    envelope = context.envelope
    cart = await deps.carts.lock(work.connection, event.cart_id, work.now)
    if cart.is_checked_out:
        await _apply(work, cart, envelope, event)  # recorded as not applied, whatever its number
    else:
        waiting = await deps.carts.waiting(work.connection, cart.cart_id)
        admission = admit(cart.last_sequence, {w.sequence for w in waiting}, envelope.sequence)
        if admission is Admission.APPLY:
            await _apply(work, cart, envelope, event)
        elif admission is Admission.BUFFER:
            await deps.carts.buffer(work.connection, cart.cart_id, envelope, work.now)
            waiting.append(Waiting(envelope.sequence or 0, work.now))
            log.info("cart.event_buffered", sequence=envelope.sequence, after=cart.last_sequence)
        elif admission is Admission.STALE:
            await work.record_unapplied(
                envelope,
                UnappliedReason.STALE_SEQUENCE,
                f"sequence {envelope.sequence} was already applied or skipped "
                f"(the cart is at {cart.last_sequence})",
            )
        else:
            await work.record_unapplied(
                envelope,
                UnappliedReason.DUPLICATE_SEQUENCE,
                f"another event with sequence {envelope.sequence} is already waiting to be applied",
            )
        await _catch_up(work, cart, waiting)
    await deps.carts.save(work.connection, cart, work.now)


async def _catch_up(work: _Work, cart: Cart, waiting: list[Waiting]) -> None:
    """Apply buffered events that are now in turn, skipping gaps that waited too long."""
    carts = work.deps.carts
    while waiting:
        ready = ready_after(cart.last_sequence, {w.sequence for w in waiting})
        if not ready:
            release = release_overdue(cart.last_sequence, waiting, work.now, work.deps.gap_timeout)
            for first, last in release.skipped:
                await carts.record_skipped(work.connection, cart.cart_id, first, last, work.now)
                metrics.SKIPPED_SEQUENCES.inc()
                log.warning(
                    "cart.sequence_gap_skipped", cart_id=cart.cart_id, first=first, last=last
                )
            ready = release.to_apply
        if not ready:
            return
        for sequence in ready:
            envelope = await carts.take_waiting(work.connection, cart.cart_id, sequence)
            waiting[:] = [w for w in waiting if w.sequence != sequence]
            event = envelope.parse_event()
            assert isinstance(event, STOREFRONT_CART_EVENTS)
            await _apply(work, cart, envelope, event)


async def _apply(work: _Work, cart: Cart, envelope: Envelope, event: StorefrontCartEvent) -> None:
    """Apply one event, in turn."""
    if envelope.sequence is not None:
        cart.last_sequence = max(cart.last_sequence, envelope.sequence)
    if cart.is_checked_out:
        await _refuse_after_checkout(work, cart, envelope, event)
        return
    cart.touch(work.now, event_id=str(envelope.event_id), correlation_id=envelope.correlation_id)
    if isinstance(event, CheckoutRequested):
        await check_out(work, cart, envelope, event)
    else:
        edit_cart(cart, event)


def edit_cart(cart: Cart, edit: CartEdit) -> None:
    """Add, remove, change a quantity or select the currency (no prices: see the README)."""
    cart.apply(edit)


async def _refuse_after_checkout(
    work: _Work, cart: Cart, envelope: Envelope, event: StorefrontCartEvent
) -> None:
    assert cart.order_id is not None
    assert cart.customer_id is not None
    if isinstance(event, CheckoutRequested):
        # The same cart checked out again: the same single order. CartCheckedOut is announced
        # again (the storefront may have missed it); OrderPlaced is not, so no one downstream
        # could take it for a second order.
        await work.emit(
            envelope,
            CartCheckedOut(
                cart_id=cart.cart_id, order_id=cart.order_id, customer_id=cart.customer_id
            ),
        )
        await work.record_unapplied(
            envelope,
            UnappliedReason.ALREADY_CHECKED_OUT,
            f"the cart already became order {cart.order_id}; CartCheckedOut was announced again",
        )
    else:
        await work.record_unapplied(
            envelope,
            UnappliedReason.CART_CHECKED_OUT,
            f"the cart was checked out into order {cart.order_id}; it accepts no more edits",
        )


async def check_out(
    work: _Work, cart: Cart, envelope: Envelope, request: CheckoutRequested
) -> None:
    """Turn the cart into an order (OrderPlaced + CartCheckedOut), or say every reason not to
    (CheckoutRejected; the cart stays open)."""
    deps, connection = work.deps, work.connection
    await deps.reference_data.ensure_seeded(connection)
    products = await deps.catalog.on_sale(connection, list(cart.lines))
    fx = await deps.current_rate(connection, deps.rules.cart_currency(cart))
    decision = decide_checkout(cart, request, products, fx, deps.rules)
    if isinstance(decision, Rejected):
        cart.customer_id = request.customer_id
        await work.emit(
            envelope, CheckoutRejected(cart_id=cart.cart_id, reasons=list(decision.reasons))
        )
        metrics.CHECKOUTS.labels("rejected").inc()
        for reason in decision.reasons:
            metrics.REJECTION_REASONS.labels(reason.code).inc()
        log.info("checkout.rejected", codes=[reason.code for reason in decision.reasons])
        return
    placed = order_placed(cart, request, decision)
    cart.check_out(placed.order_id, request.customer_id)
    await deps.orders.add(connection, placed, work.now)
    await work.emit(envelope, placed)
    await work.emit(
        envelope,
        CartCheckedOut(
            cart_id=cart.cart_id, order_id=placed.order_id, customer_id=request.customer_id
        ),
    )
    metrics.CHECKOUTS.labels("placed").inc()
    log.info(
        "checkout.order_placed",
        order_id=str(placed.order_id),
        total=str(placed.total),
        lines=len(placed.lines),
        free_shipping=placed.shipping_fee.is_zero,
    )


# ---------------------------------------------------------------------------- jobs


async def release_overdue_gaps(resources: RuntimeResources, *, deps: CartDependencies) -> int:
    """Apply the buffered events of carts whose sequence gap waited longer than the timeout.

    Returns how many carts were moved on. One transaction per batch of carts.
    """
    moved = 0
    for _ in range(JOB_MAX_BATCHES):
        async with resources.pool.acquire() as connection, connection.transaction():
            now = deps.clock.now()
            cart_ids = await deps.carts.with_overdue_gaps(
                connection, now - deps.gap_timeout, JOB_BATCH_SIZE
            )
            work = _Work(deps, connection, resources.outbox, now)
            for cart_id in cart_ids:
                cart = await deps.carts.lock(connection, cart_id, now)
                await _catch_up(work, cart, await deps.carts.waiting(connection, cart_id))
                await deps.carts.save(connection, cart, now)
        moved += len(cart_ids)
        if len(cart_ids) < JOB_BATCH_SIZE:
            break
    return moved


async def report_abandoned_carts(resources: RuntimeResources, *, deps: CartDependencies) -> int:
    """Publish CartAbandoned for open carts with lines, idle longer than the configured time.

    Returns how many were reported. An abandoned cart is not deleted: any later edit or a
    checkout reopens it, and it can be reported again after another idle period.
    """
    reported = 0
    for _ in range(JOB_MAX_BATCHES):
        async with resources.pool.acquire() as connection, connection.transaction():
            now = deps.clock.now()
            cart_ids = await deps.carts.idle(connection, now - deps.abandon_after, JOB_BATCH_SIZE)
            for cart_id in cart_ids:
                cart = await deps.carts.get(connection, cart_id)
                assert cart is not None
                assert cart.last_activity_at is not None
                await resources.outbox.add(
                    connection,
                    CartAbandoned(
                        cart_id=cart.cart_id,
                        last_activity_at=cart.last_activity_at,
                        lines=[LineQuantity(sku=s, quantity=q) for s, q in cart.lines.items()],
                        subtotal=await _subtotal_if_priceable(connection, cart, deps),
                        customer_id=cart.customer_id,
                    ),
                    correlation_id=cart.last_correlation_id or f"cart:{cart.cart_id}",
                    causation_id=cart.last_event_id,
                )
                await deps.carts.mark_abandoned(connection, cart_id, now)
        reported += len(cart_ids)
        if len(cart_ids) < JOB_BATCH_SIZE:
            break
    if reported:
        metrics.ABANDONED_CARTS.inc(reported)
        log.info("carts.abandoned_reported", count=reported)
    return reported


async def _subtotal_if_priceable(
    connection: Connection, cart: Cart, deps: CartDependencies
) -> Money | None:
    """The cart's subtotal in its currency; None if a line or the currency cannot be priced."""
    fx = await deps.current_rate(connection, deps.rules.cart_currency(cart))
    products = await deps.catalog.on_sale(connection, list(cart.lines))
    if fx is None or len(products) != len(cart.lines):
        return None
    lines = [(products[sku], quantity) for sku, quantity in cart.lines.items()]
    return price_cart(lines, fx, deps.rules.shipping).subtotal

"""Storefront cart events, applied in each cart's own order.

The storefront numbers a cart's events; they may arrive out of order. An early event waits in
a buffer until its predecessors arrive (see ``domain.sequencing``), or until the gap has waited
longer than the configured timeout (``handlers.sweeps``). Each event in turn is an edit or a
checkout request (``handlers.checkout``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

import structlog
from orderflow_chassis.errors import describe_error, is_transient
from orderflow_contracts.card_data import redact_card_numbers
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCheckedOut,
    CartCurrencySelected,
    CartItemAdded,
    CartItemQuantityChanged,
    CartItemRemoved,
    CheckoutRejected,
    CheckoutRejectionCode,
    CheckoutRequested,
    Event,
    RejectionReason,
)
from orderflow_contracts.primitives import clip_text

from orderflow_cart import metrics
from orderflow_cart.domain.cart import MAX_CART_PRODUCTS, Cart, CartEdit
from orderflow_cart.domain.checkout import CheckoutRules
from orderflow_cart.domain.sequencing import (
    Admission,
    Waiting,
    admit,
    ready_after,
    release_overdue,
)
from orderflow_cart.handlers.checkout import check_out, count_rejection
from orderflow_cart.handlers.reference_data import ReferenceData
from orderflow_cart.ports import CartUnit, WaitingEvent

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


class UnappliedReason:
    """Why a received cart event was not applied (``unapplied_cart_events.reason``)."""

    CART_CHECKED_OUT: Final = "cart_checked_out"
    ALREADY_CHECKED_OUT: Final = "already_checked_out"
    STALE_SEQUENCE: Final = CheckoutRejectionCode.STALE_SEQUENCE.value
    DUPLICATE_SEQUENCE: Final = CheckoutRejectionCode.DUPLICATE_SEQUENCE.value
    CART_FULL: Final = "cart_full"
    ORDER_CANCELLED: Final = CheckoutRejectionCode.ORDER_CANCELLED.value
    # A buffered event whose turn came but which could not be applied (read back or run):
    # set aside so that the cart, and the event that released it, go on.
    APPLY_FAILED: Final = "apply_failed"


async def lock_carts(events: Sequence[Event], uow: CartUnit) -> None:
    """The cart consumer's ``lock_ahead``: every cart its batch is about, locked (created if
    new) and read by one statement; its events are then applied to them in memory. Its
    checkouts read each product and rate once, and their orders are inserted together."""
    await uow.repos.carts.lock_all(
        (event.cart_id for event in events if isinstance(event, STOREFRONT_CART_EVENTS)), uow.now
    )
    uow.repos.catalog.remember_reads()
    uow.repos.rates.remember_reads()
    uow.repos.orders.defer_adds()


async def write_carts(uow: CartUnit) -> None:
    """The cart consumer's ``write_behind``: the carts its batch changed, one statement, then
    the orders its checkouts placed (stored only with the carts that became them), one more."""
    await uow.repos.carts.write_pending()
    await uow.repos.orders.write_pending()


async def receive_cart_event(
    event: StorefrontCartEvent,
    uow: CartUnit,
    *,
    cart_rules: CartRules,
) -> None:
    """Apply a storefront cart event in its cart's order (buffering it if it is early)."""
    envelope = uow.cause
    assert envelope is not None, "a cart event is applied as the consumer received it"
    carts = uow.repos.carts
    cart = await carts.lock(event.cart_id, uow.now)
    if cart.is_checked_out:
        # Recorded as not applied, whatever its number.
        await apply_in_turn(uow, cart, envelope, event, cart_rules)
    else:
        waiting = await carts.waiting(cart.cart_id)
        admission = admit(cart.last_sequence, {w.sequence for w in waiting}, envelope.sequence)
        if admission is Admission.APPLY:
            await apply_in_turn(uow, cart, envelope, event, cart_rules)
        elif admission is Admission.BUFFER:
            await carts.buffer(cart.cart_id, envelope.kept(event), uow.now)
            waiting.append(Waiting(envelope.sequence or 0, uow.now))
            log.info("cart.event_buffered", sequence=envelope.sequence, after=cart.last_sequence)
        elif admission is Admission.STALE:
            await _not_applied(
                uow,
                envelope,
                event,
                UnappliedReason.STALE_SEQUENCE,
                f"sequence {envelope.sequence} was already applied or skipped "
                f"(the cart is at {cart.last_sequence})",
            )
        else:
            await _not_applied(
                uow,
                envelope,
                event,
                UnappliedReason.DUPLICATE_SEQUENCE,
                f"another event with sequence {envelope.sequence} is already waiting to be applied",
            )
        await catch_up(uow, cart, waiting, cart_rules)
    await carts.save(cart, uow.now)


@dataclass(frozen=True)
class CartRules:
    """What applying a cart event in turn depends on (one value, as the sweeps need it too)."""

    checkout: CheckoutRules
    gap_timeout: timedelta
    reference_data: ReferenceData


async def apply_in_turn(
    uow: CartUnit, cart: Cart, envelope: Envelope, event: StorefrontCartEvent, rules: CartRules
) -> None:
    """Apply one event whose turn has come."""
    if envelope.sequence is not None:
        cart.last_sequence = max(cart.last_sequence, envelope.sequence)
    if cart.is_checked_out:
        await _refuse_after_checkout(uow, cart, envelope, event)
        return
    cart.touch(uow.now, event_id=str(envelope.event_id), correlation_id=envelope.correlation_id)
    if isinstance(event, CheckoutRequested):
        await check_out(
            uow,
            cart,
            envelope,
            event,
            rules=rules.checkout,
            reference_data=rules.reference_data,
        )
    elif (beyond := cart.product_beyond_room(event)) is not None:
        await record_unapplied(
            uow,
            envelope,
            UnappliedReason.CART_FULL,
            f"the cart holds {MAX_CART_PRODUCTS} different products, the most it may: "
            f"{beyond} was not added",
        )
    else:
        edit_cart(cart, event)


async def catch_up(uow: CartUnit, cart: Cart, waiting: list[Waiting], rules: CartRules) -> None:
    """Apply buffered events that are now in turn, skipping gaps that waited too long."""
    carts = uow.repos.carts
    while waiting:
        ready = ready_after(cart.last_sequence, {w.sequence for w in waiting})
        if not ready:
            release = release_overdue(cart.last_sequence, waiting, uow.now, rules.gap_timeout)
            for first, last in release.skipped:
                await carts.record_skipped(cart.cart_id, first, last, uow.now)
                metrics.SKIPPED_SEQUENCES.inc()
                log.warning(
                    "cart.sequence_gap_skipped", cart_id=cart.cart_id, first=first, last=last
                )
            ready = release.to_apply
        if not ready:
            return
        for sequence in ready:
            waiting[:] = [w for w in waiting if w.sequence != sequence]
            await _apply_buffered(uow, cart, sequence, rules)


async def _apply_buffered(uow: CartUnit, cart: Cart, sequence: int, rules: CartRules) -> None:
    """Apply the buffered event ``sequence`` in a part of the unit. One that fails for a reason
    that does not pass (it cannot be read back, or applying it raised: a bug) is undone alone
    and set aside as ``apply_failed``, a checkout answered ``checkout_failed``: failing the
    event that released it would dead-letter that valid event, and stop the cart for good."""
    # A checkout defers its order's insert past the part (``orders.write_pending``); it is
    # inserted only with a cart that became it, which the restored cart did not.
    before = replace(cart, lines=dict(cart.lines))
    part = uow.part()  # outside the try: a unit that cannot undo a part is a bug, not the event's
    try:
        async with part:
            taken = await uow.repos.carts.take_waiting(cart.cart_id, sequence)
            envelope = taken.envelope()
            event = envelope.parse_event()
            if not isinstance(event, STOREFRONT_CART_EVENTS):
                raise TypeError(f"a {event.event_type} is no storefront cart event")
            await apply_in_turn(uow, cart, envelope, event, rules)
    except Exception as error:
        if is_transient(error):
            raise  # the batch (or the sweep) is tried again, this event with it
        for name, value in vars(before).items():  # the cart as the event found it
            setattr(cart, name, value)
        cart.last_sequence = max(cart.last_sequence, sequence)
        # Kept for ops (an error may quote what it read: card numbers are redacted).
        await _set_aside(uow, cart, sequence, redact_card_numbers(describe_error(error)))


async def _set_aside(uow: CartUnit, cart: Cart, sequence: int, cause: str) -> None:
    taken = await uow.repos.carts.take_waiting(cart.cart_id, sequence)
    log.error("cart.buffered_event_failed", sequence=sequence, event_type=taken.event_type)
    await record_unapplied(
        uow,
        taken,
        UnappliedReason.APPLY_FAILED,
        clip_text(
            f"its turn came but it could not be applied; the cart went on without it: {cause}"
        ),
    )
    if taken.event_type != CheckoutRequested.event_type:
        return
    try:
        envelope: Envelope | None = taken.envelope()
    except ValueError:
        envelope = None  # answered in the journey of the cart's last activity
    message = (
        "the checkout could not be processed and was set aside for ops "
        f"({UnappliedReason.APPLY_FAILED}); nothing was ordered: send it again with the "
        "cart's next sequence number"
    )
    code = CheckoutRejectionCode.CHECKOUT_FAILED.value
    # Caused by the checkout (the storefront matches answers by it), in its own journey when
    # it can be read, else in the cart's last activity's.
    journey = None if envelope else cart.last_correlation_id or str(taken.event_id)
    await _reject_checkout(
        uow,
        envelope,
        cart.cart_id,
        code,
        message,
        correlation_id=journey,
        causation_id=str(taken.event_id),
    )


def edit_cart(cart: Cart, edit: CartEdit) -> None:
    """Add, remove, change a quantity or select the currency (no prices: see the README)."""
    cart.apply(edit)


async def _not_applied(
    uow: CartUnit, envelope: Envelope, event: StorefrontCartEvent, reason: str, detail: str
) -> None:
    """Record an event its number keeps out; a checkout still gets an answer, so that a
    storefront waiting on it hears why (it sends the checkout again with the next number)."""
    await record_unapplied(uow, envelope, reason, detail)
    if isinstance(event, CheckoutRequested):
        message = f"{detail}: send the checkout again with the cart's next sequence number"
        await _reject_checkout(uow, envelope, event.cart_id, reason, message)


async def _reject_checkout(
    uow: CartUnit,
    envelope: Envelope | None,
    cart_id: str,
    code: str,
    message: str,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> None:
    """Answer a checkout that no rule failed with its one reason (its number, its cart's
    cancelled order, or its failure)."""
    rejected = CheckoutRejected(
        cart_id=cart_id, reasons=[RejectionReason(code=code, message=clip_text(message))]
    )
    await uow.emit(
        rejected, cause=envelope, correlation_id=correlation_id, causation_id=causation_id
    )
    count_rejection([code])


async def record_unapplied(
    uow: CartUnit, envelope: Envelope | WaitingEvent, reason: str, detail: str
) -> None:
    await uow.repos.carts.record_unapplied(envelope, reason=reason, detail=detail, now=uow.now)
    metrics.UNAPPLIED_EVENTS.labels(reason).inc()
    log.info("cart.event_not_applied", reason=reason, sequence=envelope.sequence)


async def _refuse_after_checkout(
    uow: CartUnit, cart: Cart, envelope: Envelope, event: StorefrontCartEvent
) -> None:
    assert cart.order_id is not None
    assert cart.customer_id is not None
    if isinstance(event, CheckoutRequested) and (
        cancelled := await uow.repos.orders.cancellation_reason(cart.order_id)
    ):
        # Announcing the cancelled order as checked out again would tell the customer (trying
        # another card after a decline, say) that it is placed, when nothing will be charged.
        detail = (
            f"the cart became order {cart.order_id}, which was cancelled ({cancelled}); "
            "start a new cart to order again"
        )
        await record_unapplied(uow, envelope, UnappliedReason.ORDER_CANCELLED, detail)
        await _reject_checkout(
            uow, envelope, event.cart_id, UnappliedReason.ORDER_CANCELLED, detail
        )
    elif isinstance(event, CheckoutRequested):
        # The same cart checked out again: the same single order. CartCheckedOut is announced
        # again (the storefront may have missed it); OrderPlaced is not, so no one downstream
        # could take it for a second order.
        await uow.emit(
            CartCheckedOut(
                cart_id=cart.cart_id, order_id=cart.order_id, customer_id=cart.customer_id
            ),
            cause=envelope,
        )
        await record_unapplied(
            uow,
            envelope,
            UnappliedReason.ALREADY_CHECKED_OUT,
            f"the cart already became order {cart.order_id}; CartCheckedOut was announced again",
        )
    else:
        await record_unapplied(
            uow,
            envelope,
            UnappliedReason.CART_CHECKED_OUT,
            f"the cart was checked out into order {cart.order_id}; it accepts no more edits",
        )

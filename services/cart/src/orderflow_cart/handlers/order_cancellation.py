"""The order's lifecycle, as far as the cart service (its owner) announces it.

The saga is choreographed: payment voids and fulfillment releases stock on their own when they
see the other side fail. The cart service, which placed the order, turns each such failure
into one ``OrderCancelled`` with the reason, so the storefront, returns and ops learn the
order's fate from the ``orders`` topic, and any side that has not compensated yet (an
authorisation still held, a reservation still open) does so on ``OrderCancelled``.

An order is cancelled at most once (a guarded update); later failures of the same order, or
the same failure delivered again, change nothing.
"""

from __future__ import annotations

from typing import Final

import structlog
from orderflow_contracts.events import (
    OrderCancelled,
    PaymentDeclined,
    PaymentVoided,
    ReservationReleased,
    StockUnavailable,
)
from orderflow_contracts.events.fulfillment import ReservationReleaseReason
from orderflow_contracts.events.orders import OrderCancellationReason
from orderflow_contracts.events.payments import PaymentVoidReason
from orderflow_contracts.primitives import clip_text

from orderflow_cart.ports import CartUnit

log = structlog.get_logger(__name__)

SagaFailure = PaymentDeclined | StockUnavailable | PaymentVoided | ReservationReleased
SAGA_FAILURES: Final = (PaymentDeclined, StockUnavailable, PaymentVoided, ReservationReleased)


def cancellation_for(event: SagaFailure) -> tuple[OrderCancellationReason, str] | None:
    """Why this event cancels its order, or None when it does not (a void or a release that
    itself follows a cancellation, for instance)."""
    match event:
        case PaymentDeclined():
            declined = clip_text(f"payment declined: {event.message}")
            return OrderCancellationReason.PAYMENT_DECLINED, declined
        case StockUnavailable():
            # Quoted: all-digit SKUs listed bare (``2698-0134, 1105-6167``) read as a card
            # number's groups one time in thirty, and every consumer refused the event.
            skus = ", ".join(f"'{line.sku}'" for line in event.short_lines)
            return OrderCancellationReason.STOCK_UNAVAILABLE, clip_text(f"out of stock: {skus}")
        case PaymentVoided() if event.reason == PaymentVoidReason.AUTHORIZATION_EXPIRED:
            return (
                OrderCancellationReason.AUTHORIZATION_EXPIRED,
                "the payment authorisation expired before the order could be captured",
            )
        case ReservationReleased() if event.reason == ReservationReleaseReason.EXPIRED:
            return (
                OrderCancellationReason.RESERVATION_EXPIRED,
                "no payment outcome arrived before the stock reservation expired",
            )
    return None


async def cancel_failed_order(event: SagaFailure, uow: CartUnit) -> None:
    """One ``OrderCancelled`` per failed order, with the first failure's reason."""
    decided = cancellation_for(event)
    if decided is None:
        return
    reason, message = decided
    assert uow.cause is not None, "a saga failure is applied as the consumer received it"
    cancelled = await uow.repos.orders.cancel(event.order_id, reason.value, uow.cause.occurred_at)
    if not cancelled:
        log.info("order.cancel_skipped", order_id=str(event.order_id), reason=reason.value)
        return
    await uow.emit(OrderCancelled(order_id=event.order_id, reason=reason, message=message))

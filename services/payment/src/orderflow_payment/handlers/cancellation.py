"""``OrderCancelled`` → release the authorisation, or give back what was captured."""

from __future__ import annotations

from orderflow_contracts.events.orders import OrderCancelled
from orderflow_contracts.events.payments import PaymentVoidReason

from orderflow_payment.domain.providers import cancellation_refund_id, cancellation_refund_key
from orderflow_payment.handlers._movements import Work, void
from orderflow_payment.handlers._provider_calls import Sleep
from orderflow_payment.handlers._refund_movement import RefundAsked, refund
from orderflow_payment.ports import PaymentProviders
from orderflow_payment.settings import PaymentSettings


async def cancel_payment(
    event: OrderCancelled,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """Void an authorisation, or refund what is left of a capture (one refund id per order,
    so a cancellation delivered twice refunds once). Remembered for an ``OrderPlaced`` still
    to come: a cancelled order is never authorised."""
    order_id = event.order_id
    await uow.repos.payments.lock_order(order_id)
    await uow.repos.order_facts.record_cancellation(order_id, event.reason)
    payment = await uow.repos.payments.get(order_id)
    if payment is None:
        return
    if payment.can_void:
        reason = PaymentVoidReason.ORDER_CANCELLED
        await void(
            payment,
            reason,
            uow,
            providers=providers,
            settings=settings,
            sleep=sleep,
            finish_unknown_capture=True,
        )
    # Captured (before, or by a void the provider refused for an unanswered capture). That
    # capture's PaymentCaptured starts no shipment: an order cart cancels with an authorisation
    # still to void failed at fulfillment (stock unavailable, reservation expired), which then
    # holds nothing for it.
    if payment.is_captured and payment.refundable.is_positive:
        asked = RefundAsked(
            order_id,
            cancellation_refund_id(order_id),
            payment.refundable,
            must_happen=True,
            provider_key=cancellation_refund_key(order_id, payment.refunded),
        )
        await refund(payment, asked, uow, providers=providers, settings=settings, sleep=sleep)

"""``RefundRequested`` (returns) → refund up to captured - refunded."""

from __future__ import annotations

from orderflow_contracts.events.returns import RefundRequested

from orderflow_payment.handlers._movements import Work
from orderflow_payment.handlers._provider_calls import Sleep
from orderflow_payment.handlers._refund_movement import RefundAsked, refund
from orderflow_payment.ports import PaymentProviders
from orderflow_payment.settings import PaymentSettings


async def refund_payment(
    event: RefundRequested,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """→ ``RefundIssued``, or ``RefundFailed`` with a reason (nothing captured, too much,
    another currency, the provider refused or did not answer)."""
    await uow.repos.payments.lock_order(event.order_id)
    payment = await uow.repos.payments.get(event.order_id)
    asked = RefundAsked(event.order_id, event.refund_id, event.amount, event.rma_id)
    await refund(payment, asked, uow, providers=providers, settings=settings, sleep=sleep)

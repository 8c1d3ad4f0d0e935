"""What fulfillment says about the order's stock: reserved → capture; gone → void.

Stock facts are stored whatever arrives first (``OrderPlaced`` may come later) and only move
forward, so a late or redelivered ``StockReserved`` never revives a released reservation.
"""

from __future__ import annotations

import uuid

import structlog
from orderflow_contracts.events.fulfillment import (
    ReservationReleased,
    StockReserved,
    StockUnavailable,
)
from orderflow_contracts.events.payments import PaymentVoidReason

from orderflow_payment.domain.model import StockStatus, next_stock_status
from orderflow_payment.handlers._movements import Work, capture, void
from orderflow_payment.handlers._provider_calls import Sleep
from orderflow_payment.ports import PaymentProviders
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)


async def record_stock_reserved(
    event: StockReserved,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """Remember it; capture if the payment is already authorised."""
    status = await _record_stock(uow, event.order_id, StockStatus.RESERVED)
    if status is not StockStatus.RESERVED:
        return
    payment = await uow.repos.payments.get(event.order_id)
    if payment is not None and payment.can_capture:
        await capture(payment, uow, providers=providers, settings=settings, sleep=sleep)


async def record_stock_unavailable(
    event: StockUnavailable,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """Void the authorisation (or, when it comes first, never authorise)."""
    await _record_stock(uow, event.order_id, StockStatus.UNAVAILABLE)
    await _void_if_authorised(
        uow,
        event.order_id,
        PaymentVoidReason.STOCK_UNAVAILABLE,
        providers=providers,
        settings=settings,
        sleep=sleep,
    )


async def record_reservation_released(
    event: ReservationReleased,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """The held stock is gone: never capture, void instead."""
    await _record_stock(uow, event.order_id, StockStatus.RELEASED)
    await _void_if_authorised(
        uow,
        event.order_id,
        PaymentVoidReason.RESERVATION_RELEASED,
        providers=providers,
        settings=settings,
        sleep=sleep,
    )


async def _record_stock(uow: Work, order_id: uuid.UUID, reported: StockStatus) -> StockStatus:
    await uow.repos.payments.lock_order(order_id)
    current = (await uow.repos.order_facts.facts(order_id)).stock_status
    status = next_stock_status(current, reported)
    if status is not current:
        await uow.repos.order_facts.record_stock(order_id, status)
    return status


async def _void_if_authorised(
    uow: Work,
    order_id: uuid.UUID,
    reason: PaymentVoidReason,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    payment = await uow.repos.payments.get(order_id)
    if payment is not None and payment.can_void:
        # A capture whose answer a crash lost makes the provider refuse the void: it is
        # finished instead (the order's cancellation then refunds it), rather than this event
        # dead-lettered and the capture recorded later, with nothing left to refund it.
        await void(
            payment,
            reason,
            uow,
            providers=providers,
            settings=settings,
            sleep=sleep,
            finish_unknown_capture=True,
        )
    elif payment is not None and payment.is_captured:
        log.warning("payment.void_after_capture_ignored", order_id=str(order_id), reason=reason)

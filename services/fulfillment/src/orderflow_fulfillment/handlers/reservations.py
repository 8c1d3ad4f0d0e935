"""Holding an order's stock (OrderPlaced) and giving it back (payment failed, order cancelled).

The order row is written first: it serialises an order with the payment outcome of the same
order read from another topic, and makes a redelivered OrderPlaced a no-op. An outcome read
before its order is remembered, so the order then reserves nothing and is answered with a
``ReservationReleased`` that gives nothing back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    OrderCancelled,
    OrderPlaced,
    PaymentDeclined,
    PaymentVoided,
    ReservationReleased,
    ReservationReleaseReason,
    StockReserved,
)

from orderflow_fulfillment.domain.allocation import Line, Shortage, merge_lines
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers._anomalies import record_anomaly
from orderflow_fulfillment.handlers._events import (
    allocations_of,
    applied_envelope,
    stock_allocations,
    stock_unavailable,
)
from orderflow_fulfillment.handlers._reserving import create_shipments, reserve_lines
from orderflow_fulfillment.ports import FulfillmentRepositories, NamedLine
from orderflow_fulfillment.settings import FulfillmentSettings

log = structlog.get_logger(__name__)


async def reserve_stock(
    event: OrderPlaced,
    uow: UnitOfWork[FulfillmentRepositories],
    *,
    settings: FulfillmentSettings,
) -> None:
    """OrderPlaced: hold every line, from one warehouse if possible, or none of them."""
    expires_at = uow.now + timedelta(seconds=settings.reservation_ttl_s)
    names: dict[str, str] = {}
    for line in event.lines:
        names.setdefault(line.sku, line.name)
    wanted = merge_lines(Line(line.sku, line.quantity) for line in event.lines)
    lines = [NamedLine(line.sku, names[line.sku], line.quantity) for line in wanted]
    created = await uow.repos.orders.insert_order(
        event.order_id,
        status=OrderStatus.RESERVED,
        ship_to=event.ship_to,
        shipping_service=settings.shipping_service,
        correlation_id=applied_envelope(uow).correlation_id,
        lines=lines,
        reserved_at=uow.now,
        expires_at=expires_at,
    )
    if not created:
        await _answer_an_overtaken_order(event, uow, settings, lines)
        return
    outcome = await reserve_lines(uow.repos.stock, wanted, event.ship_to.country)
    if isinstance(outcome, Shortage):
        await uow.repos.orders.update_order(event.order_id, OrderStatus.UNAVAILABLE)
        await uow.emit(stock_unavailable(event.order_id, outcome))
        return
    await create_shipments(
        uow,
        event.order_id,
        outcome,
        names,
        ship_to=event.ship_to,
        shipping_service=settings.shipping_service,
        status=ShipmentStatus.RESERVED,
    )
    await uow.emit(
        StockReserved(
            order_id=event.order_id,
            allocations=stock_allocations(outcome.allocations()),
            expires_at=expires_at,
        )
    )


async def _answer_an_overtaken_order(
    event: OrderPlaced,
    uow: UnitOfWork[FulfillmentRepositories],
    settings: FulfillmentSettings,
    lines: Sequence[NamedLine],
) -> None:
    """The order's outcome came first (another topic): it reserves nothing, but its
    OrderPlaced is still answered, as a decline read in order would have been, so the
    order's events are the same whatever order the topics were read in."""
    reason = await uow.repos.orders.place_released(
        event.order_id,
        ship_to=event.ship_to,
        shipping_service=settings.shipping_service,
        lines=lines,
    )
    if reason is None:
        log.info("fulfillment.order_already_known", order_id=str(event.order_id))
        return
    await uow.emit(ReservationReleased(order_id=event.order_id, reason=reason, allocations=[]))
    log.info("fulfillment.overtaken_order_released", order_id=str(event.order_id), reason=reason)


async def release_on_payment_declined(
    event: PaymentDeclined, uow: UnitOfWork[FulfillmentRepositories]
) -> None:
    await release_reservation(uow, event.order_id, ReservationReleaseReason.PAYMENT_DECLINED)


async def release_on_payment_voided(
    event: PaymentVoided, uow: UnitOfWork[FulfillmentRepositories]
) -> None:
    await release_reservation(uow, event.order_id, ReservationReleaseReason.PAYMENT_VOIDED)


async def release_on_order_cancelled(
    event: OrderCancelled, uow: UnitOfWork[FulfillmentRepositories]
) -> None:
    await release_reservation(uow, event.order_id, ReservationReleaseReason.ORDER_CANCELLED)


async def release_reservation(
    uow: UnitOfWork[FulfillmentRepositories], order_id: uuid.UUID, reason: str
) -> bool:
    """Give an order's held stock back. True if something was released."""
    orders, shipments = uow.repos.orders, uow.repos.shipments
    order = await orders.lock_order(order_id)
    if order is None:
        # The outcome overtook the order (another topic): remember it, so the OrderPlaced
        # that follows reserves nothing.
        remembered = await orders.insert_order(
            order_id,
            status=OrderStatus.RELEASED,
            ship_to=None,
            shipping_service=None,
            correlation_id=uow.cause.correlation_id if uow.cause else str(order_id),
            released_at=uow.now,
            release_reason=str(reason),
        )
        if remembered:
            return False
        # Another instance was placing the order meanwhile (its insert, not yet committed
        # when the order was looked up, held this one until it did): release what it holds.
        order = await orders.lock_order(order_id)
        if order is None:
            return False
    if order.status in (OrderStatus.FULFILLING, OrderStatus.COMPLETED):
        await record_anomaly(
            uow,
            AnomalyReason.CANCELLED_AFTER_FULFILLMENT_REQUESTED,
            order_id=order_id,
            detail={"cause": str(reason), "order_status": order.status.value},
        )
        return False
    if order.status is not OrderStatus.RESERVED:
        return False  # nothing held (already released, or it never was)
    held = [
        s for s in await shipments.shipments_of(order_id) if s.status is ShipmentStatus.RESERVED
    ]
    allocations = allocations_of(held)
    await uow.repos.stock.release(allocations)
    await shipments.set_shipment_status(
        [s.shipment_id for s in held], ShipmentStatus.RELEASED, at=uow.now
    )
    await orders.update_order(
        order_id, OrderStatus.RELEASED, released_at=uow.now, release_reason=str(reason)
    )
    await uow.emit(
        ReservationReleased(
            order_id=order_id, reason=str(reason), allocations=stock_allocations(allocations)
        ),
        correlation_id=order.correlation_id,
    )
    return True

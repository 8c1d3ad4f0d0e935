"""PaymentCaptured: ask each warehouse of the order to ship its shipment.

A capture that crossed the reservation's expiry (or met an order found short) reserves again
rather than leave the customer charged and unshipped; when the stock is gone it says so with
StockUnavailable, and payment refunds.
"""

from __future__ import annotations

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import PaymentCaptured, StockReserved

from orderflow_fulfillment.domain.allocation import Line, Shortage
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers._anomalies import record_anomaly
from orderflow_fulfillment.handlers._events import (
    fulfillment_request,
    stock_allocations,
    stock_unavailable,
)
from orderflow_fulfillment.handlers._reserving import create_shipments, reserve_lines
from orderflow_fulfillment.ports import FulfillmentRepositories, OrderRecord
from orderflow_fulfillment.settings import FulfillmentSettings


async def request_fulfillment(
    event: PaymentCaptured,
    uow: UnitOfWork[FulfillmentRepositories],
    *,
    settings: FulfillmentSettings,
) -> None:
    """PaymentCaptured -> one FulfillmentRequested per reserved shipment of the order."""
    orders, shipments = uow.repos.orders, uow.repos.shipments
    order = await orders.lock_order(event.order_id)
    if order is None:
        await record_anomaly(uow, AnomalyReason.UNKNOWN_ORDER, order_id=event.order_id)
        return
    if order.status in (OrderStatus.FULFILLING, OrderStatus.COMPLETED):
        return  # a second capture report: the warehouses were asked already
    if order.status in (
        OrderStatus.RELEASED,
        OrderStatus.UNAVAILABLE,
    ) and not await _reserve_again(uow, order, settings):
        return
    reserved = [
        s
        for s in await shipments.shipments_of(event.order_id)
        if s.status is ShipmentStatus.RESERVED
    ]
    await shipments.set_shipment_status(
        [s.shipment_id for s in reserved], ShipmentStatus.REQUESTED, at=uow.now
    )
    await orders.update_order(event.order_id, OrderStatus.FULFILLING, captured_at=uow.now)
    for shipment in reserved:
        await uow.emit(fulfillment_request(shipment), correlation_id=order.correlation_id)


async def _reserve_again(
    uow: UnitOfWork[FulfillmentRepositories], order: OrderRecord, settings: FulfillmentSettings
) -> bool:
    """Hold the order's stock again after its hold lapsed or was found short. True if held."""
    known_lines = await uow.repos.orders.order_lines(order.order_id)
    names = {line.sku: line.name for line in known_lines}
    lines = [Line(line.sku, line.quantity) for line in known_lines]
    if order.ship_to is None or not lines:
        await record_anomaly(
            uow,
            AnomalyReason.CAPTURED_WITHOUT_STOCK,
            order_id=order.order_id,
            detail={"order_status": order.status.value, "known_lines": len(lines)},
        )
        return False
    outcome = await reserve_lines(uow.repos.stock, lines, order.ship_to.country)
    if isinstance(outcome, Shortage):
        await record_anomaly(
            uow,
            AnomalyReason.CAPTURED_WITHOUT_STOCK,
            order_id=order.order_id,
            detail={"order_status": order.status.value, "re_reserved": False},
        )
        await uow.repos.orders.update_order(order.order_id, OrderStatus.UNAVAILABLE)
        await uow.emit(
            stock_unavailable(order.order_id, outcome), correlation_id=order.correlation_id
        )
        return False
    await record_anomaly(
        uow,
        AnomalyReason.CAPTURED_AFTER_RELEASE,
        order_id=order.order_id,
        detail={"order_status": order.status.value, "re_reserved": True},
    )
    await create_shipments(
        uow,
        order.order_id,
        outcome,
        names,
        ship_to=order.ship_to,
        shipping_service=order.shipping_service or settings.shipping_service,
        status=ShipmentStatus.RESERVED,
    )
    await uow.repos.orders.update_order(order.order_id, OrderStatus.RESERVED)
    await uow.emit(
        StockReserved(
            order_id=order.order_id, allocations=stock_allocations(outcome.allocations())
        ),
        correlation_id=order.correlation_id,
    )
    return True

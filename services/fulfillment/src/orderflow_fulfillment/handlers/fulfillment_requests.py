"""PaymentCaptured: ask each warehouse of the order to ship its shipment.

A capture of an order whose stock is no longer held (its reservation lapsed or was released,
or it was found short) ships nothing. Each of those states was announced
(``ReservationReleased``, ``StockUnavailable``) and the cart service cancels the order on it;
payment then refunds the capture (``OrderCancelled`` after a capture). Holding the stock again
and shipping, as fulfillment once did, ended such orders shipped *and* refunded.
"""

from __future__ import annotations

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import PaymentCaptured

from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers._anomalies import record_anomaly
from orderflow_fulfillment.handlers._events import fulfillment_request
from orderflow_fulfillment.ports import FulfillmentRepositories


async def request_fulfillment(
    event: PaymentCaptured, uow: UnitOfWork[FulfillmentRepositories]
) -> None:
    """PaymentCaptured -> one FulfillmentRequested per reserved shipment of the order."""
    orders, shipments = uow.repos.orders, uow.repos.shipments
    order = await orders.lock_order(event.order_id)
    if order is None:
        await record_anomaly(uow, AnomalyReason.UNKNOWN_ORDER, order_id=event.order_id)
        return
    if order.status in (OrderStatus.FULFILLING, OrderStatus.COMPLETED):
        return  # a second capture report: the warehouses were asked already
    if order.status in (OrderStatus.RELEASED, OrderStatus.UNAVAILABLE):
        await record_anomaly(
            uow,
            AnomalyReason.CAPTURED_AFTER_RELEASE
            if order.status is OrderStatus.RELEASED
            else AnomalyReason.CAPTURED_WITHOUT_STOCK,
            order_id=order.order_id,
            detail={"order_status": order.status.value, "release_reason": order.release_reason},
        )
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

"""A warehouse's parcel reports: dispatched (units leave stock), delivered (the last delivery
completes the order). A report that does not fit the shipment's state changes nothing it
should not and is recorded (see ``domain.shipments``)."""

from __future__ import annotations

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    LineQuantity,
    OrderCompleted,
    ParcelDelivered,
    ParcelDispatched,
    ShipmentDelivered,
    ShipmentDispatched,
)

from orderflow_fulfillment.domain.shipments import (
    AnomalyReason,
    DeliveryAction,
    DispatchAction,
    OrderStatus,
    decide_delivery,
    decide_dispatch,
    order_is_complete,
)
from orderflow_fulfillment.handlers._anomalies import (
    not_before,
    record_anomaly,
    stamped_by_now,
    stock_time,
)
from orderflow_fulfillment.ports import FulfillmentRepositories, ShipmentRecord


async def record_dispatch(
    event: ParcelDispatched, uow: UnitOfWork[FulfillmentRepositories]
) -> None:
    """ParcelDispatched: the units left the warehouse -> ShipmentDispatched."""
    reported_at = event.dispatched_at
    event = await stamped_by_now(
        uow, event, "dispatched_at", shipment_id=event.shipment_id, warehouse_id=event.warehouse_id
    )
    shipment = await uow.repos.shipments.lock_shipment(event.shipment_id)
    if shipment is None:
        await record_anomaly(
            uow,
            AnomalyReason.UNKNOWN_SHIPMENT,
            shipment_id=event.shipment_id,
            warehouse_id=event.warehouse_id,
        )
        return
    event = await not_before(
        uow,
        event,
        "dispatched_at",
        requested_at=shipment.requested_at,
        order_id=shipment.order_id,
        shipment_id=shipment.shipment_id,
        warehouse_id=event.warehouse_id,
    )
    decision = decide_dispatch(
        shipment.status,
        shipment_warehouse=shipment.warehouse_id,
        reported_warehouse=event.warehouse_id,
        known_tracking=shipment.tracking_number,
        reported_tracking=event.tracking_number,
    )
    if decision.anomaly is not None:
        await record_anomaly(
            uow,
            decision.anomaly,
            order_id=shipment.order_id,
            shipment_id=shipment.shipment_id,
            warehouse_id=event.warehouse_id,
            detail={
                "shipment_status": shipment.status.value,
                "shipment_warehouse": shipment.warehouse_id,
                "known_tracking_number": shipment.tracking_number,
                "reported_tracking_number": event.tracking_number,
            },
        )
    if decision.action is DispatchAction.IGNORE:
        return
    moved_at = stock_time(uow, reported_at, event.dispatched_at)
    dispatched_at = event.dispatched_at
    if decision.action is DispatchAction.DISPATCH:
        await uow.repos.stock.dispatch(
            shipment.allocations(), occurred_at=moved_at, reference=str(event.shipment_id)
        )
    elif decision.action is DispatchAction.RECORD_TRACKING:
        # Its delivery implied the dispatch, stamped at the delivery: the real time may put it
        # before a count that did not find the units.
        await uow.repos.stock.redate_dispatch(
            shipment.allocations(), dispatched_at=moved_at, reference=str(event.shipment_id)
        )
        if shipment.delivered_at is not None and dispatched_at > shipment.delivered_at:
            # Delivered before it left: the warehouse's clocks disagree. Stock takes the later
            # time (a count in between saw the units: on_hand errs low, never high); the
            # shipment keeps the delivery's, and the anomaly says so.
            await record_anomaly(
                uow,
                AnomalyReason.CLOCK_BEHIND,
                order_id=shipment.order_id,
                shipment_id=shipment.shipment_id,
                warehouse_id=event.warehouse_id,
                detail={
                    "delivered_at": shipment.delivered_at.isoformat(),
                    "dispatched_at": dispatched_at.isoformat(),
                    "taken_as": shipment.delivered_at.isoformat(),
                },
            )
            dispatched_at = shipment.delivered_at
    await uow.repos.shipments.mark_dispatched(
        shipment.shipment_id,
        carrier=event.carrier,
        tracking_number=event.tracking_number,
        dispatched_at=dispatched_at,
        keep_status=decision.action is DispatchAction.RECORD_TRACKING,
    )
    if decision.action is DispatchAction.DISPATCH:
        await uow.emit(
            ShipmentDispatched(
                order_id=shipment.order_id,
                shipment_id=shipment.shipment_id,
                warehouse_id=shipment.warehouse_id,
                carrier=event.carrier,
                tracking_number=event.tracking_number,
                dispatched_at=event.dispatched_at,
            ),
            correlation_id=await _journey_of(uow, shipment),
        )


async def record_delivery(event: ParcelDelivered, uow: UnitOfWork[FulfillmentRepositories]) -> None:
    """ParcelDelivered -> ShipmentDelivered; the last one completes the order."""
    reported_at = event.delivered_at
    event = await stamped_by_now(uow, event, "delivered_at", shipment_id=event.shipment_id)
    shipment = await uow.repos.shipments.lock_shipment(event.shipment_id)
    if shipment is None:
        await record_anomaly(uow, AnomalyReason.UNKNOWN_SHIPMENT, shipment_id=event.shipment_id)
        return
    event = await not_before(
        uow,
        event,
        "delivered_at",
        requested_at=shipment.requested_at,
        left_at=shipment.dispatched_at,
        order_id=shipment.order_id,
        shipment_id=shipment.shipment_id,
        warehouse_id=shipment.warehouse_id,
    )
    decision = decide_delivery(shipment.status)
    if decision.anomaly is not None:
        await record_anomaly(
            uow,
            decision.anomaly,
            order_id=shipment.order_id,
            shipment_id=shipment.shipment_id,
            warehouse_id=shipment.warehouse_id,
            detail={"shipment_status": shipment.status.value},
        )
    if decision.action is DeliveryAction.IGNORE:
        return
    if decision.action is DeliveryAction.DELIVER_IMPLYING_DISPATCH:
        await uow.repos.stock.dispatch(
            shipment.allocations(),
            occurred_at=stock_time(uow, reported_at, event.delivered_at),
            reference=str(event.shipment_id),
        )
    await uow.repos.shipments.mark_delivered(shipment.shipment_id, delivered_at=event.delivered_at)
    order = await uow.repos.orders.lock_order(shipment.order_id)
    correlation = await _journey_of(uow, shipment)
    await uow.emit(
        ShipmentDelivered(
            order_id=shipment.order_id,
            shipment_id=shipment.shipment_id,
            lines=[LineQuantity(sku=ln.sku, quantity=ln.quantity) for ln in shipment.lines],
            delivered_at=event.delivered_at,
            replacement=shipment.replacement,
        ),
        correlation_id=correlation,
    )
    if shipment.replacement or order is None or order.status is not OrderStatus.FULFILLING:
        return
    statuses = [
        (s.status, s.replacement) for s in await uow.repos.shipments.shipments_of(order.order_id)
    ]
    if order_is_complete(statuses):
        await uow.repos.orders.update_order(
            order.order_id, OrderStatus.COMPLETED, completed_at=uow.now
        )
        await uow.emit(OrderCompleted(order_id=order.order_id), correlation_id=order.correlation_id)


async def _journey_of(
    uow: UnitOfWork[FulfillmentRepositories], shipment: ShipmentRecord
) -> str | None:
    """The journey a shipment's reports belong to: its order's checkout, or for a replacement
    its warranty claim's (the one its ``FulfillmentRequested`` carried, and the warehouse
    echoes): the claim's trail was split between two journeys."""
    if shipment.replacement and shipment.claim_id is not None:
        found = await uow.repos.replacements.correlation_of(shipment.order_id, shipment.claim_id)
        if found is not None:
            return found
    order = await uow.repos.orders.lock_order(shipment.order_id)
    return order.correlation_id if order else None

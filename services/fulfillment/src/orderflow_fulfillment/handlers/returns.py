"""Returns: an authorised RMA is expected; its parcel restocks resellable units and writes off
damaged ones, then ReturnRestocked reports both. The authorisation and the parcel come on two
topics, in either order: the RMA row (locked) is where they meet."""

from __future__ import annotations

import uuid

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    LineQuantity,
    ReturnAuthorized,
    ReturnParcelReceived,
    ReturnRestocked,
)
from orderflow_contracts.primitives import EARLIEST_INSTANT

from orderflow_fulfillment.domain.shipments import AnomalyReason, ShipmentStatus
from orderflow_fulfillment.domain.stock import ReturnedUnits, sort_returned_parcel
from orderflow_fulfillment.handlers._anomalies import (
    record_anomaly,
    require_warehouse,
    stamped_by_now,
    too_far_ahead,
)
from orderflow_fulfillment.handlers._events import applied_envelope
from orderflow_fulfillment.handlers.replacements import retry_replacements_first
from orderflow_fulfillment.ports import FulfillmentRepositories


async def expect_return(event: ReturnAuthorized, uow: UnitOfWork[FulfillmentRepositories]) -> None:
    """ReturnAuthorized: remember the RMA; report a parcel that already came back."""
    correlation_id = applied_envelope(uow).correlation_id
    rma = await uow.repos.rmas.lock_rma(event.rma_id)
    if rma.order_id is not None and rma.order_id != event.order_id:
        await record_anomaly(
            uow,
            AnomalyReason.RMA_CONFLICT,
            order_id=event.order_id,
            rma_id=event.rma_id,
            detail={"known_order_id": str(rma.order_id)},
        )
        return
    authorised: dict[str, int] = {}
    for line in event.lines:
        authorised[line.sku] = authorised.get(line.sku, 0) + line.quantity
    await uow.repos.rmas.authorize_rma(
        event.rma_id,
        order_id=event.order_id,
        lines=authorised,
        return_by=event.return_by,
        authorized_at=uow.now,
        correlation_id=correlation_id,
    )
    if rma.received_at is not None and not rma.restocked_reported:
        assert rma.received_warehouse_id is not None  # set with received_at
        returned = {*(rma.restocked or {}), *(rma.written_off or {})}
        await _check_return_warehouse(
            uow, event.order_id, event.rma_id, rma.received_warehouse_id, returned
        )
        await _report_restock(
            uow,
            order_id=event.order_id,
            rma_id=event.rma_id,
            warehouse_id=rma.received_warehouse_id,
            restocked=rma.restocked or {},
            written_off=rma.written_off or {},
            authorised=authorised,
            correlation_id=correlation_id,
        )


async def restock_return(
    event: ReturnParcelReceived, uow: UnitOfWork[FulfillmentRepositories]
) -> None:
    """ReturnParcelReceived: resellable units back on the shelf, damaged written off."""
    await require_warehouse(uow, event.warehouse_id)
    # A receipt stamped too far ahead came at some time before now. Taken as made now for
    # stock, a count in between (which found its units) was added to, and they were offered
    # twice: for stock it is taken as early as can be, so any count or load of the row is
    # taken to have found them (errs low until the next count, never high).
    restocked_at = EARLIEST_INSTANT if too_far_ahead(uow, event.received_at) else None
    event = await stamped_by_now(
        uow, event, "received_at", rma_id=event.rma_id, warehouse_id=event.warehouse_id
    )
    restocked_at = restocked_at or event.received_at
    stock = uow.repos.stock
    rma = await uow.repos.rmas.lock_rma(event.rma_id)
    if rma.received_at is not None:
        await record_anomaly(
            uow,
            AnomalyReason.DUPLICATE_RETURN_PARCEL,
            order_id=rma.order_id,
            rma_id=event.rma_id,
            warehouse_id=event.warehouse_id,
        )
        return
    sorting = sort_returned_parcel(
        [ReturnedUnits(ln.sku, ln.quantity, ln.condition) for ln in event.lines], None
    )
    returned = {*sorting.restock, *sorting.write_off}
    unknown = returned - await stock.stocked_skus(returned)
    if unknown:
        sorting = sorting.writing_off(unknown)
        await record_anomaly(
            uow,
            AnomalyReason.UNKNOWN_SKU,
            rma_id=event.rma_id,
            warehouse_id=event.warehouse_id,
            detail={"skus": sorted(unknown), "written_off": sorting.write_off},
        )
    reference = str(event.rma_id)
    for sku, quantity in sorted(sorting.restock.items()):
        await stock.restock(
            event.warehouse_id, sku, quantity, occurred_at=restocked_at, reference=reference
        )
    await retry_replacements_first(uow, sorting.restock)
    for sku, quantity in sorted(sorting.write_off.items()):
        await stock.write_off(
            event.warehouse_id, sku, quantity, occurred_at=restocked_at, reference=reference
        )
    await uow.repos.rmas.receive_rma(
        event.rma_id,
        warehouse_id=event.warehouse_id,
        received_lines=[line.model_dump(mode="json") for line in event.lines],
        received_at=event.received_at,
        restocked=sorting.restock,
        written_off=sorting.write_off,
    )
    if rma.order_id is None:
        # Read before its ReturnAuthorized (another topic): stock is restocked now, the
        # ReturnRestocked report follows the authorisation, which carries the order id.
        await record_anomaly(
            uow,
            AnomalyReason.UNKNOWN_RMA,
            rma_id=event.rma_id,
            warehouse_id=event.warehouse_id,
            detail={"restocked": sorting.restock, "written_off": sorting.write_off},
        )
        return
    await _check_return_warehouse(uow, rma.order_id, event.rma_id, event.warehouse_id, returned)
    await _report_restock(
        uow,
        order_id=rma.order_id,
        rma_id=event.rma_id,
        warehouse_id=event.warehouse_id,
        restocked=sorting.restock,
        written_off=sorting.write_off,
        authorised=rma.authorized_lines or {},
        correlation_id=rma.correlation_id,
    )


async def _report_restock(
    uow: UnitOfWork[FulfillmentRepositories],
    *,
    order_id: uuid.UUID,
    rma_id: uuid.UUID,
    warehouse_id: str,
    restocked: dict[str, int],
    written_off: dict[str, int],
    authorised: dict[str, int],
    correlation_id: str | None,
) -> None:
    received: dict[str, int] = {}
    for part in (restocked, written_off):
        for sku, quantity in part.items():
            received[sku] = received.get(sku, 0) + quantity
    beyond = {
        sku: quantity - authorised.get(sku, 0)
        for sku, quantity in received.items()
        if quantity > authorised.get(sku, 0)
    }
    if beyond:
        await record_anomaly(
            uow,
            AnomalyReason.RETURNED_MORE_THAN_AUTHORISED,
            order_id=order_id,
            rma_id=rma_id,
            warehouse_id=warehouse_id,
            detail={"beyond_authorised": beyond, "authorised": authorised},
        )
    await uow.repos.rmas.mark_restock_reported(rma_id)
    await uow.emit(
        ReturnRestocked(
            order_id=order_id,
            rma_id=rma_id,
            warehouse_id=warehouse_id,
            restocked=[LineQuantity(sku=s, quantity=q) for s, q in sorted(restocked.items())],
            written_off=[LineQuantity(sku=s, quantity=q) for s, q in sorted(written_off.items())],
        ),
        correlation_id=correlation_id,
    )


async def _check_return_warehouse(
    uow: UnitOfWork[FulfillmentRepositories],
    order_id: uuid.UUID,
    rma_id: uuid.UUID,
    warehouse_id: str,
    returned: set[str],
) -> None:
    """Record units back at a warehouse none of their parcels left from
    (``return_warehouse_mismatch``): they are restocked where they are, on a shelf that may
    never have held the SKU, which ops may want to move back. Only shipments that left count
    (not a released one), replacements included: a SKU may have left from several."""
    left_from: dict[str, set[str]] = {}
    for shipment in await uow.repos.shipments.shipments_of(order_id):
        if shipment.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED):
            for line in shipment.lines:
                left_from.setdefault(line.sku, set()).add(shipment.warehouse_id)
    elsewhere = {
        sku: sorted(left_from[sku])
        for sku in sorted(returned)
        if sku in left_from and warehouse_id not in left_from[sku]
    }
    if elsewhere:
        await record_anomaly(
            uow,
            AnomalyReason.RETURN_WAREHOUSE_MISMATCH,
            order_id=order_id,
            rma_id=rma_id,
            warehouse_id=warehouse_id,
            detail={"shipped_from": elsewhere},
        )

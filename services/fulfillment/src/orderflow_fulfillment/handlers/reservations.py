"""Fulfillment's use cases: one method per event it consumes, one transaction each.

Every handler is idempotent at the domain level too (not only through the inbox): a state is
checked under a row lock before it changes, because the same fact can reach us twice through
different messages (a warehouse re-sending a report with a new event id, a payment outcome
racing an order on another topic). What does not fit the current state is recorded in the
``anomalies`` table, never applied half-way. Only a missing configuration (a warehouse we do
not know) is a dead letter: ops add the warehouse and replay it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from orderflow_chassis.clock import Clock
from orderflow_chassis.consumer import HandlerContext
from orderflow_chassis.database import Connection
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_chassis.outbox import Outbox
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    Event,
    FulfillmentRequested,
    LineQuantity,
    OrderCancelled,
    OrderCompleted,
    OrderPlaced,
    ParcelDelivered,
    ParcelDispatched,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    PostalAddress,
    ReplacementRequested,
    ReservationReleased,
    ReservationReleaseReason,
    ReturnAuthorized,
    ReturnParcelReceived,
    ReturnRestocked,
    ShipmentDelivered,
    ShipmentDispatched,
    ShipmentLine,
    StockAllocation,
    StockCounted,
    StockReserved,
    StockUnavailable,
)
from orderflow_contracts.events import ShortLine as ShortLineEvent

from orderflow_fulfillment.adapters.order_repository import (
    NamedLine,
    OrderRecord,
    OrderRepository,
    ReplacementRecord,
    ShipmentRecord,
)
from orderflow_fulfillment.adapters.stock_repository import StockRepository
from orderflow_fulfillment.domain.allocation import (
    Allocation,
    AllocationPlan,
    Line,
    Shortage,
    merge_lines,
    plan_allocation,
)
from orderflow_fulfillment.domain.shipments import (
    AnomalyReason,
    DeliveryAction,
    DispatchAction,
    OrderStatus,
    ShipmentStatus,
    decide_delivery,
    decide_dispatch,
    order_is_complete,
)
from orderflow_fulfillment.domain.stock import CountVerdict, ReturnedUnits, sort_returned_parcel
from orderflow_fulfillment.settings import FulfillmentSettings

log = structlog.get_logger(__name__)

RESERVATION_ATTEMPTS = 5
"""Plans re-made when concurrent reservations took the stock a plan counted on."""

PAYMENT_VOIDED = "payment_voided"
"""ReservationReleased reason when payment voided the authorisation (an open code)."""

Emit = Callable[[Event], Awaitable[Any]]


@dataclass
class _Unit:
    """One transaction's tools: repositories on its connection, and a way to emit events."""

    stock: StockRepository
    orders: OrderRepository
    emit_with: Callable[[Event, str], Awaitable[Any]]
    envelope: Envelope | None = None

    async def emit(self, event: Event, correlation_id: str | None = None) -> None:
        fallback = self.envelope.correlation_id if self.envelope is not None else None
        correlation = correlation_id or fallback
        if correlation is None:
            raise ValueError("an event emitted outside a handler needs a correlation id")
        await self.emit_with(event, correlation)

    async def anomaly(self, reason: AnomalyReason, **fields: Any) -> None:
        log.warning("fulfillment.anomaly", reason=reason.value, **_printable(fields))
        await self.orders.record_anomaly(reason, envelope=self.envelope, **fields)


def _printable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in fields.items()}


async def reserve_lines(
    stock: StockRepository, lines: Sequence[Line], ship_to_country: str
) -> AllocationPlan | Shortage:
    """Plan from current availability and reserve it; re-plan when a concurrent reservation
    got there first. All of the plan is reserved, or nothing."""
    wanted = merge_lines(lines)
    warehouses = await stock.warehouses()
    for _ in range(RESERVATION_ATTEMPTS):
        availability = await stock.availability(line.sku for line in wanted)
        outcome = plan_allocation(wanted, warehouses, availability, ship_to_country)
        if isinstance(outcome, Shortage):
            return outcome
        if await stock.try_reserve(outcome.allocations()):
            return outcome
    raise TransientError("stock kept changing under the reservation; retrying the batch")


def _allocations(plan_or_shipments: AllocationPlan | Sequence[ShipmentRecord]) -> list[Allocation]:
    if isinstance(plan_or_shipments, AllocationPlan):
        return plan_or_shipments.allocations()
    return [a for shipment in plan_or_shipments for a in shipment.allocations()]


def _stock_allocations(allocations: Sequence[Allocation]) -> list[StockAllocation]:
    return [
        StockAllocation(warehouse_id=a.warehouse_id, sku=a.sku, quantity=a.quantity)
        for a in allocations
    ]


def _fulfillment_request(shipment: ShipmentRecord) -> FulfillmentRequested:
    return FulfillmentRequested(
        order_id=shipment.order_id,
        shipment_id=shipment.shipment_id,
        warehouse_id=shipment.warehouse_id,
        lines=[
            ShipmentLine(sku=ln.sku, name=ln.name, quantity=ln.quantity) for ln in shipment.lines
        ],
        ship_to=shipment.ship_to,
        shipping_service=shipment.shipping_service,
        replacement=shipment.replacement,
        warranty_claim_id=shipment.claim_id,
    )


@dataclass
class FulfillmentHandlers:
    """The use cases, with what they depend on injected by the composition root."""

    schema: str
    settings: FulfillmentSettings
    clock: Clock

    # ---------------------------------------------------------------------- plumbing

    def unit(self, context: HandlerContext) -> _Unit:
        async def emit(event: Event, correlation_id: str) -> None:
            await context.outbox.add(
                context.connection,
                event,
                correlation_id=correlation_id,
                causation_id=str(context.envelope.event_id),
            )

        return _Unit(
            StockRepository(context.connection, self.schema),
            OrderRepository(context.connection, self.schema),
            emit,
            context.envelope,
        )

    def background_unit(self, connection: Connection, outbox: Outbox) -> _Unit:
        async def emit(event: Event, correlation_id: str) -> None:
            await outbox.add(connection, event, correlation_id=correlation_id)

        return _Unit(
            StockRepository(connection, self.schema),
            OrderRepository(connection, self.schema),
            emit,
        )

    # ------------------------------------------------------------------- reservation

    async def reserve_stock(self, event: OrderPlaced, context: HandlerContext) -> None:
        """OrderPlaced: hold every line, from one warehouse if possible, or none of them."""
        unit = self.unit(context)
        now = self.clock.now()
        expires_at = now + timedelta(seconds=self.settings.reservation_ttl_s)
        names: dict[str, str] = {}
        for line in event.lines:
            names.setdefault(line.sku, line.name)
        wanted = merge_lines(Line(line.sku, line.quantity) for line in event.lines)
        # The order row first: it serialises this with a payment outcome for the same order
        # read from another topic, and makes a redelivered OrderPlaced a no-op.
        created = await unit.orders.insert_order(
            event.order_id,
            status=OrderStatus.RESERVED,
            ship_to=event.ship_to,
            shipping_service=self.settings.shipping_service,
            correlation_id=context.envelope.correlation_id,
            lines=[NamedLine(line.sku, names[line.sku], line.quantity) for line in wanted],
            reserved_at=now,
            expires_at=expires_at,
        )
        if not created:
            log.info("fulfillment.order_already_known", order_id=str(event.order_id))
            return
        outcome = await reserve_lines(unit.stock, wanted, event.ship_to.country)
        if isinstance(outcome, Shortage):
            await unit.orders.update_order(event.order_id, OrderStatus.UNAVAILABLE)
            await unit.emit(_stock_unavailable(event.order_id, outcome))
            return
        await self._create_shipments(
            unit,
            event.order_id,
            outcome,
            names,
            ship_to=event.ship_to,
            shipping_service=self.settings.shipping_service,
            status=ShipmentStatus.RESERVED,
        )
        await unit.emit(
            StockReserved(
                order_id=event.order_id,
                allocations=_stock_allocations(outcome.allocations()),
                expires_at=expires_at,
            )
        )

    async def _create_shipments(
        self,
        unit: _Unit,
        order_id: uuid.UUID,
        plan: AllocationPlan,
        names: dict[str, str],
        *,
        ship_to: PostalAddress,
        shipping_service: str,
        status: ShipmentStatus,
        claim_id: str | None = None,
        requested_at: datetime | None = None,
    ) -> list[uuid.UUID]:
        shipment_ids = []
        for planned in plan.shipments:
            shipment_id = uuid.uuid4()
            await unit.orders.insert_shipment(
                shipment_id,
                order_id=order_id,
                warehouse_id=planned.warehouse_id,
                status=status,
                lines=[
                    NamedLine(ln.sku, names.get(ln.sku, ln.sku), ln.quantity)
                    for ln in planned.lines
                ],
                ship_to=ship_to,
                shipping_service=shipping_service,
                replacement=claim_id is not None,
                claim_id=claim_id,
                requested_at=requested_at,
            )
            shipment_ids.append(shipment_id)
        return shipment_ids

    # ---------------------------------------------------------------------- releases

    async def release_on_payment_declined(
        self, event: PaymentDeclined, context: HandlerContext
    ) -> None:
        await self.release(
            self.unit(context), event.order_id, ReservationReleaseReason.PAYMENT_DECLINED
        )

    async def release_on_payment_voided(
        self, event: PaymentVoided, context: HandlerContext
    ) -> None:
        await self.release(self.unit(context), event.order_id, PAYMENT_VOIDED)

    async def release_on_order_cancelled(
        self, event: OrderCancelled, context: HandlerContext
    ) -> None:
        await self.release(
            self.unit(context), event.order_id, ReservationReleaseReason.ORDER_CANCELLED
        )

    async def release(self, unit: _Unit, order_id: uuid.UUID, reason: str) -> bool:
        """Give an order's held stock back. True if something was released."""
        now = self.clock.now()
        order = await unit.orders.lock_order(order_id)
        if order is None:
            # The outcome overtook the order (another topic): remember it, so the OrderPlaced
            # that follows reserves nothing.
            correlation = unit.envelope.correlation_id if unit.envelope else str(order_id)
            await unit.orders.insert_order(
                order_id,
                status=OrderStatus.RELEASED,
                ship_to=None,
                shipping_service=None,
                correlation_id=correlation,
                released_at=now,
                release_reason=str(reason),
            )
            return False
        if order.status in (OrderStatus.FULFILLING, OrderStatus.COMPLETED):
            await unit.anomaly(
                AnomalyReason.CANCELLED_AFTER_FULFILLMENT_REQUESTED,
                order_id=order_id,
                detail={"cause": str(reason), "order_status": order.status.value},
            )
            return False
        if order.status is not OrderStatus.RESERVED:
            return False  # nothing held (already released, or it never was)
        shipments = [
            s
            for s in await unit.orders.shipments_of(order_id)
            if s.status is ShipmentStatus.RESERVED
        ]
        allocations = _allocations(shipments)
        await unit.stock.release(allocations)
        await unit.orders.set_shipment_status(
            [s.shipment_id for s in shipments], ShipmentStatus.RELEASED, at=now
        )
        await unit.orders.update_order(
            order_id, OrderStatus.RELEASED, released_at=now, release_reason=str(reason)
        )
        await unit.emit(
            ReservationReleased(
                order_id=order_id, reason=str(reason), allocations=_stock_allocations(allocations)
            ),
            order.correlation_id,
        )
        return True

    # -------------------------------------------------------------- warehouse requests

    async def request_fulfillment(self, event: PaymentCaptured, context: HandlerContext) -> None:
        """PaymentCaptured: ask each warehouse of the order to ship its shipment."""
        unit = self.unit(context)
        order = await unit.orders.lock_order(event.order_id)
        if order is None:
            await unit.anomaly(AnomalyReason.UNKNOWN_ORDER, order_id=event.order_id)
            return
        if order.status in (OrderStatus.FULFILLING, OrderStatus.COMPLETED):
            return  # a second capture report: the warehouses were asked already
        if order.status in (
            OrderStatus.RELEASED,
            OrderStatus.UNAVAILABLE,
        ) and not await self._reserve_again(unit, order):
            return
        now = self.clock.now()
        shipments = [
            s
            for s in await unit.orders.shipments_of(event.order_id)
            if s.status is ShipmentStatus.RESERVED
        ]
        await unit.orders.set_shipment_status(
            [s.shipment_id for s in shipments], ShipmentStatus.REQUESTED, at=now
        )
        await unit.orders.update_order(event.order_id, OrderStatus.FULFILLING, captured_at=now)
        for shipment in shipments:
            await unit.emit(_fulfillment_request(shipment), order.correlation_id)

    async def _reserve_again(self, unit: _Unit, order: OrderRecord) -> bool:
        """Money was captured for an order whose hold had lapsed (the capture crossed the
        expiry) or that we had found short: try to hold the stock again rather than leave
        the customer charged and unshipped."""
        known_lines = await unit.orders.order_lines(order.order_id)
        names = {line.sku: line.name for line in known_lines}
        lines = [Line(line.sku, line.quantity) for line in known_lines]
        if order.ship_to is None or not lines:
            await unit.anomaly(
                AnomalyReason.CAPTURED_WITHOUT_STOCK,
                order_id=order.order_id,
                detail={"order_status": order.status.value, "known_lines": len(lines)},
            )
            return False
        outcome = await reserve_lines(unit.stock, lines, order.ship_to.country)
        if isinstance(outcome, Shortage):
            await unit.anomaly(
                AnomalyReason.CAPTURED_WITHOUT_STOCK,
                order_id=order.order_id,
                detail={"order_status": order.status.value, "re_reserved": False},
            )
            await unit.orders.update_order(order.order_id, OrderStatus.UNAVAILABLE)
            await unit.emit(_stock_unavailable(order.order_id, outcome), order.correlation_id)
            return False
        await unit.anomaly(
            AnomalyReason.CAPTURED_AFTER_RELEASE,
            order_id=order.order_id,
            detail={"order_status": order.status.value, "re_reserved": True},
        )
        await self._create_shipments(
            unit,
            order.order_id,
            outcome,
            names,
            ship_to=order.ship_to,
            shipping_service=order.shipping_service or self.settings.shipping_service,
            status=ShipmentStatus.RESERVED,
        )
        await unit.orders.update_order(order.order_id, OrderStatus.RESERVED)
        await unit.emit(
            StockReserved(
                order_id=order.order_id, allocations=_stock_allocations(outcome.allocations())
            ),
            order.correlation_id,
        )
        return True

    # --------------------------------------------------------------- warehouse reports

    async def record_dispatch(self, event: ParcelDispatched, context: HandlerContext) -> None:
        """ParcelDispatched: the units left the warehouse -> ShipmentDispatched."""
        unit = self.unit(context)
        shipment = await unit.orders.lock_shipment(event.shipment_id)
        if shipment is None:
            await unit.anomaly(
                AnomalyReason.UNKNOWN_SHIPMENT,
                shipment_id=event.shipment_id,
                warehouse_id=event.warehouse_id,
            )
            return
        decision = decide_dispatch(
            shipment.status,
            shipment_warehouse=shipment.warehouse_id,
            reported_warehouse=event.warehouse_id,
            known_tracking=shipment.tracking_number,
            reported_tracking=event.tracking_number,
        )
        if decision.anomaly is not None:
            await unit.anomaly(
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
        if decision.action is DispatchAction.DISPATCH:
            for allocation in shipment.allocations():
                await unit.stock.dispatch(
                    allocation, occurred_at=event.dispatched_at, reference=str(event.shipment_id)
                )
        await unit.orders.mark_dispatched(
            shipment.shipment_id,
            carrier=event.carrier,
            tracking_number=event.tracking_number,
            dispatched_at=event.dispatched_at,
            keep_status=decision.action is DispatchAction.RECORD_TRACKING,
        )
        if decision.action is DispatchAction.DISPATCH:
            order = await unit.orders.lock_order(shipment.order_id)
            await unit.emit(
                ShipmentDispatched(
                    order_id=shipment.order_id,
                    shipment_id=shipment.shipment_id,
                    warehouse_id=shipment.warehouse_id,
                    carrier=event.carrier,
                    tracking_number=event.tracking_number,
                    dispatched_at=event.dispatched_at,
                ),
                order.correlation_id if order else None,
            )

    async def record_delivery(self, event: ParcelDelivered, context: HandlerContext) -> None:
        """ParcelDelivered -> ShipmentDelivered; the last one completes the order."""
        unit = self.unit(context)
        shipment = await unit.orders.lock_shipment(event.shipment_id)
        if shipment is None:
            await unit.anomaly(AnomalyReason.UNKNOWN_SHIPMENT, shipment_id=event.shipment_id)
            return
        decision = decide_delivery(shipment.status)
        if decision.anomaly is not None:
            await unit.anomaly(
                decision.anomaly,
                order_id=shipment.order_id,
                shipment_id=shipment.shipment_id,
                warehouse_id=shipment.warehouse_id,
                detail={"shipment_status": shipment.status.value},
            )
        if decision.action is DeliveryAction.IGNORE:
            return
        if decision.action is DeliveryAction.DELIVER_IMPLYING_DISPATCH:
            for allocation in shipment.allocations():
                await unit.stock.dispatch(
                    allocation, occurred_at=event.delivered_at, reference=str(event.shipment_id)
                )
        await unit.orders.mark_delivered(shipment.shipment_id, delivered_at=event.delivered_at)
        order = await unit.orders.lock_order(shipment.order_id)
        correlation = order.correlation_id if order else None
        await unit.emit(
            ShipmentDelivered(
                order_id=shipment.order_id,
                shipment_id=shipment.shipment_id,
                lines=[LineQuantity(sku=ln.sku, quantity=ln.quantity) for ln in shipment.lines],
                delivered_at=event.delivered_at,
                replacement=shipment.replacement,
            ),
            correlation,
        )
        if shipment.replacement or order is None or order.status is not OrderStatus.FULFILLING:
            return
        statuses = [
            (s.status, s.replacement) for s in await unit.orders.shipments_of(order.order_id)
        ]
        if order_is_complete(statuses):
            await unit.orders.update_order(
                order.order_id, OrderStatus.COMPLETED, completed_at=self.clock.now()
            )
            await unit.emit(OrderCompleted(order_id=order.order_id), correlation)

    async def apply_stock_count(self, event: StockCounted, context: HandlerContext) -> None:
        """StockCounted: the warehouse's physical count replaces our on-hand figure."""
        unit = self.unit(context)
        await self._require_warehouse(unit, event.warehouse_id)
        outcome = await unit.stock.apply_count(
            event.warehouse_id,
            event.sku,
            event.on_hand,
            counted_at=event.counted_at,
            reference=str(context.envelope.event_id),
        )
        if outcome.verdict is CountVerdict.BELOW_RESERVED:
            await unit.anomaly(
                AnomalyReason.COUNT_BELOW_RESERVED,
                warehouse_id=event.warehouse_id,
                sku=event.sku,
                detail={
                    "counted": event.on_hand,
                    "on_hand_set": outcome.on_hand,
                    "missing_reserved_units": outcome.shortfall,
                },
            )
        elif outcome.verdict is CountVerdict.UNKNOWN_SKU:
            await unit.anomaly(
                AnomalyReason.UNKNOWN_SKU,
                warehouse_id=event.warehouse_id,
                sku=event.sku,
                detail={"counted": event.on_hand, "counted_at": event.counted_at.isoformat()},
            )
        elif outcome.verdict is CountVerdict.STALE:
            await unit.anomaly(
                AnomalyReason.STALE_COUNT,
                warehouse_id=event.warehouse_id,
                sku=event.sku,
                detail={"counted": event.on_hand, "counted_at": event.counted_at.isoformat()},
            )

    async def _require_warehouse(self, unit: _Unit, warehouse_id: str) -> None:
        if not await unit.stock.warehouse_exists(warehouse_id):
            raise PermanentError(
                "unknown_warehouse",
                f"warehouse {warehouse_id} is not configured in fulfillment; add it "
                "(orderflow-fulfillment stock load) and replay this dead letter",
            )

    # ------------------------------------------------------------------------ returns

    async def expect_return(self, event: ReturnAuthorized, context: HandlerContext) -> None:
        """ReturnAuthorized: remember the RMA; report a parcel that already came back."""
        unit = self.unit(context)
        rma = await unit.orders.lock_rma(event.rma_id)
        if rma.order_id is not None and rma.order_id != event.order_id:
            await unit.anomaly(
                AnomalyReason.RMA_CONFLICT,
                order_id=event.order_id,
                rma_id=event.rma_id,
                detail={"known_order_id": str(rma.order_id)},
            )
            return
        authorised: dict[str, int] = {}
        for line in event.lines:
            authorised[line.sku] = authorised.get(line.sku, 0) + line.quantity
        await unit.orders.authorize_rma(
            event.rma_id,
            order_id=event.order_id,
            lines=authorised,
            return_by=event.return_by,
            authorized_at=self.clock.now(),
            correlation_id=context.envelope.correlation_id,
        )
        if rma.received_at is not None and not rma.restocked_reported:
            assert rma.received_warehouse_id is not None
            await self._report_restock(
                unit,
                order_id=event.order_id,
                rma_id=event.rma_id,
                warehouse_id=rma.received_warehouse_id,
                restocked=rma.restocked or {},
                written_off=rma.written_off or {},
                authorised=authorised,
                correlation_id=context.envelope.correlation_id,
            )

    async def restock_return(self, event: ReturnParcelReceived, context: HandlerContext) -> None:
        """ReturnParcelReceived: resellable units back on the shelf, damaged written off."""
        unit = self.unit(context)
        await self._require_warehouse(unit, event.warehouse_id)
        rma = await unit.orders.lock_rma(event.rma_id)
        if rma.received_at is not None:
            await unit.anomaly(
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
        unknown = returned - await unit.stock.stocked_skus(returned)
        if unknown:
            sorting = sorting.writing_off(unknown)
            await unit.anomaly(
                AnomalyReason.UNKNOWN_SKU,
                rma_id=event.rma_id,
                warehouse_id=event.warehouse_id,
                detail={"skus": sorted(unknown), "written_off": sorting.write_off},
            )
        reference = str(event.rma_id)
        for sku, quantity in sorted(sorting.restock.items()):
            await unit.stock.restock(
                event.warehouse_id,
                sku,
                quantity,
                occurred_at=event.received_at,
                reference=reference,
            )
        for sku, quantity in sorted(sorting.write_off.items()):
            await unit.stock.write_off(
                event.warehouse_id,
                sku,
                quantity,
                occurred_at=event.received_at,
                reference=reference,
            )
        await unit.orders.receive_rma(
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
            await unit.anomaly(
                AnomalyReason.UNKNOWN_RMA,
                rma_id=event.rma_id,
                warehouse_id=event.warehouse_id,
                detail={"restocked": sorting.restock, "written_off": sorting.write_off},
            )
            return
        await self._report_restock(
            unit,
            order_id=rma.order_id,
            rma_id=event.rma_id,
            warehouse_id=event.warehouse_id,
            restocked=sorting.restock,
            written_off=sorting.write_off,
            authorised=rma.authorized_lines or {},
            correlation_id=rma.correlation_id,
        )

    async def _report_restock(
        self,
        unit: _Unit,
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
            await unit.anomaly(
                AnomalyReason.RETURNED_MORE_THAN_AUTHORISED,
                order_id=order_id,
                rma_id=rma_id,
                warehouse_id=warehouse_id,
                detail={"beyond_authorised": beyond, "authorised": authorised},
            )
        await unit.orders.mark_restock_reported(rma_id)
        await unit.emit(
            ReturnRestocked(
                order_id=order_id,
                rma_id=rma_id,
                warehouse_id=warehouse_id,
                restocked=[LineQuantity(sku=s, quantity=q) for s, q in sorted(restocked.items())],
                written_off=[
                    LineQuantity(sku=s, quantity=q) for s, q in sorted(written_off.items())
                ],
            ),
            correlation_id,
        )

    # -------------------------------------------------------------------- replacements

    async def ship_replacement(self, event: ReplacementRequested, context: HandlerContext) -> None:
        """ReplacementRequested: ship again at no charge, without waiting for a payment."""
        unit = self.unit(context)
        lines = tuple(Line(ln.sku, ln.quantity) for ln in event.lines)
        created = await unit.orders.insert_replacement(
            event.order_id,
            event.claim_id,
            lines=lines,
            ship_to=event.ship_to,
            correlation_id=context.envelope.correlation_id,
        )
        if not created:
            return  # this claim's replacement is known already
        replacement = ReplacementRecord(
            event.order_id, event.claim_id, lines, event.ship_to, context.envelope.correlation_id, 0
        )
        await self.try_replacement(unit, replacement)

    async def try_replacement(self, unit: _Unit, replacement: ReplacementRecord) -> bool:
        """Reserve and request a replacement; when stock is short it waits (backorder) and a
        periodic job tries again. True once requested."""
        outcome = await reserve_lines(unit.stock, replacement.lines, replacement.ship_to.country)
        if isinstance(outcome, Shortage):
            await unit.orders.replacement_attempted(
                replacement.order_id, replacement.claim_id, requested_at=None
            )
            if replacement.attempts == 0:
                await unit.anomaly(
                    AnomalyReason.REPLACEMENT_BACKORDERED,
                    order_id=replacement.order_id,
                    detail={
                        "claim_id": replacement.claim_id,
                        "short_lines": [
                            {"sku": s.sku, "requested": s.requested, "available": s.available}
                            for s in outcome.short_lines
                        ],
                    },
                )
            return False
        now = self.clock.now()
        names = await unit.orders.line_names(replacement.order_id)
        shipment_ids = await self._create_shipments(
            unit,
            replacement.order_id,
            outcome,
            names,
            ship_to=replacement.ship_to,
            shipping_service=self.settings.replacement_shipping_service,
            status=ShipmentStatus.REQUESTED,
            claim_id=replacement.claim_id,
            requested_at=now,
        )
        await unit.orders.replacement_attempted(
            replacement.order_id, replacement.claim_id, requested_at=now
        )
        for shipment in await unit.orders.shipments_of(replacement.order_id):
            if shipment.shipment_id in shipment_ids:
                await unit.emit(_fulfillment_request(shipment), replacement.correlation_id)
        return True


def _stock_unavailable(order_id: uuid.UUID, shortage: Shortage) -> StockUnavailable:
    return StockUnavailable(
        order_id=order_id,
        short_lines=[
            ShortLineEvent(sku=s.sku, requested=s.requested, available=s.available)
            for s in shortage.short_lines
        ],
    )

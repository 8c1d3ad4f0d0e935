"""In-memory orders, shipments, replacements, RMAs and anomalies, inserted once where the
database has a key, locked rows being simply the current ones (a test runs one use case at a
time)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import PostalAddress
from orderflow_fulfillment.domain.allocation import Line
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.ports import (
    NamedLine,
    OrderRecord,
    ReplacementRecord,
    RmaRecord,
    ShipmentRecord,
)

# -------------------------------------------------------------------------------- orders


@dataclass
class StoredOrder:
    record: OrderRecord
    lines: list[NamedLine]
    stamps: dict[str, datetime | None]
    """reserved_at, released_at, captured_at, completed_at"""


@dataclass
class InMemoryOrders:
    orders: dict[uuid.UUID, StoredOrder] = field(default_factory=dict)
    # consumer -> "<topic>/<partition>" -> next offset (the consumer_positions table)
    positions: dict[str, dict[str, int]] = field(default_factory=dict)

    def status(self, order_id: uuid.UUID) -> OrderStatus:
        return self.orders[order_id].record.status

    async def lock_order(self, order_id: uuid.UUID, *, lock: bool = True) -> OrderRecord | None:
        stored = self.orders.get(order_id)
        return stored.record if stored is not None else None

    async def insert_order(
        self,
        order_id: uuid.UUID,
        *,
        status: OrderStatus,
        ship_to: PostalAddress | None,
        shipping_service: str | None,
        correlation_id: str,
        lines: Sequence[NamedLine] = (),
        reserved_at: datetime | None = None,
        expires_at: datetime | None = None,
        released_at: datetime | None = None,
        release_reason: str | None = None,
    ) -> bool:
        if order_id in self.orders:
            return False
        record = OrderRecord(
            order_id, status, ship_to, shipping_service, correlation_id, expires_at, release_reason
        )
        stamps = {
            "reserved_at": reserved_at,
            "released_at": released_at,
            "captured_at": None,
            "completed_at": None,
        }
        self.orders[order_id] = StoredOrder(record, list(lines), stamps)
        return True

    async def place_released(
        self,
        order_id: uuid.UUID,
        *,
        ship_to: PostalAddress,
        shipping_service: str,
        lines: Sequence[NamedLine],
    ) -> str | None:
        stored = self.orders.get(order_id)
        if stored is None or stored.record.status is not OrderStatus.RELEASED:
            return None
        if stored.record.ship_to is not None:
            return None
        stored.record = replace(stored.record, ship_to=ship_to, shipping_service=shipping_service)
        stored.lines = list(lines)
        return stored.record.release_reason

    async def update_order(
        self,
        order_id: uuid.UUID,
        status: OrderStatus,
        *,
        released_at: datetime | None = None,
        release_reason: str | None = None,
        captured_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> None:
        stored = self.orders.get(order_id)
        if stored is None:
            return  # an UPDATE of no row
        stored.record = replace(
            stored.record,
            status=status,
            release_reason=release_reason or stored.record.release_reason,
        )
        given = {
            "released_at": released_at,
            "captured_at": captured_at,
            "completed_at": completed_at,
        }
        for name, value in given.items():
            if value is not None:
                stored.stamps[name] = value

    async def order_lines(self, order_id: uuid.UUID) -> list[NamedLine]:
        stored = self.orders.get(order_id)
        return sorted(stored.lines, key=lambda line: line.sku) if stored else []

    async def line_names(self, order_id: uuid.UUID) -> dict[str, str]:
        return {line.sku: line.name for line in await self.order_lines(order_id)}

    async def expired_reservations(
        self, now: datetime, limit: int, *, skipping: Sequence[uuid.UUID] = ()
    ) -> list[uuid.UUID]:
        expired = [
            s.record
            for s in self.orders.values()
            if s.record.status is OrderStatus.RESERVED
            and s.record.expires_at is not None
            and s.record.expires_at <= now
            and s.record.order_id not in skipping
        ]
        expired.sort(key=lambda r: r.expires_at or now)
        return [r.order_id for r in expired[:limit]]

    async def read_positions(self, consumer: str) -> Mapping[str, int]:
        return dict(self.positions.get(consumer, {}))


# ----------------------------------------------------------------------------- shipments


@dataclass
class InMemoryShipments:
    shipments: dict[uuid.UUID, ShipmentRecord] = field(default_factory=dict)
    stamps: dict[uuid.UUID, dict[str, datetime]] = field(default_factory=dict)
    """requested_at / released_at per shipment"""

    def of_order(self, order_id: uuid.UUID) -> list[ShipmentRecord]:
        return [s for s in self.shipments.values() if s.order_id == order_id]

    async def insert_shipment(
        self,
        shipment_id: uuid.UUID,
        *,
        order_id: uuid.UUID,
        warehouse_id: str,
        status: ShipmentStatus,
        lines: Sequence[NamedLine],
        ship_to: PostalAddress,
        shipping_service: str,
        replacement: bool = False,
        claim_id: str | None = None,
        requested_at: datetime | None = None,
    ) -> None:
        if shipment_id in self.shipments:
            raise ValueError(f"duplicate shipment {shipment_id}")
        self.shipments[shipment_id] = ShipmentRecord(
            shipment_id=shipment_id,
            order_id=order_id,
            warehouse_id=warehouse_id,
            status=status,
            replacement=replacement,
            claim_id=claim_id,
            ship_to=ship_to,
            shipping_service=shipping_service,
            carrier=None,
            tracking_number=None,
            dispatched_at=None,
            delivered_at=None,
            lines=tuple(sorted(lines, key=lambda line: line.sku)),
            requested_at=requested_at,
        )
        self.stamps[shipment_id] = {"requested_at": requested_at} if requested_at else {}

    async def shipments_of(self, order_id: uuid.UUID) -> list[ShipmentRecord]:
        return self.of_order(order_id)

    async def lock_shipment(self, shipment_id: uuid.UUID) -> ShipmentRecord | None:
        return self.shipments.get(shipment_id)

    async def set_shipment_status(
        self, shipment_ids: Sequence[uuid.UUID], status: ShipmentStatus, *, at: datetime
    ) -> None:
        column = {
            ShipmentStatus.REQUESTED: "requested_at",
            ShipmentStatus.RELEASED: "released_at",
        }[status]
        for shipment_id in shipment_ids:
            shipment = replace(self.shipments[shipment_id], status=status)
            if status is ShipmentStatus.REQUESTED:
                shipment = replace(shipment, requested_at=at)
            self.shipments[shipment_id] = shipment
            self.stamps[shipment_id][column] = at

    async def mark_dispatched(
        self,
        shipment_id: uuid.UUID,
        *,
        carrier: str,
        tracking_number: str,
        dispatched_at: datetime,
        keep_status: bool = False,
    ) -> None:
        shipment = self.shipments[shipment_id]
        self.shipments[shipment_id] = replace(
            shipment,
            status=shipment.status if keep_status else ShipmentStatus.DISPATCHED,
            carrier=carrier,
            tracking_number=tracking_number,
            dispatched_at=dispatched_at,
        )

    async def mark_delivered(self, shipment_id: uuid.UUID, *, delivered_at: datetime) -> None:
        self.shipments[shipment_id] = replace(
            self.shipments[shipment_id], status=ShipmentStatus.DELIVERED, delivered_at=delivered_at
        )


# -------------------------------------------------------------------------- replacements


@dataclass
class StoredReplacement:
    record: ReplacementRecord
    status: str  # awaiting_stock | requested
    requested_at: datetime | None = None
    last_attempt_at: datetime | None = None


@dataclass
class InMemoryReplacements:
    replacements: dict[tuple[uuid.UUID, str], StoredReplacement] = field(default_factory=dict)

    async def insert_replacement(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        lines: Sequence[Line],
        ship_to: PostalAddress,
        correlation_id: str,
    ) -> bool:
        if (order_id, claim_id) in self.replacements:
            return False
        record = ReplacementRecord(order_id, claim_id, tuple(lines), ship_to, correlation_id, 0)
        self.replacements[order_id, claim_id] = StoredReplacement(record, "awaiting_stock")
        return True

    async def correlation_of(self, order_id: uuid.UUID, claim_id: str) -> str | None:
        stored = self.replacements.get((order_id, claim_id))
        return None if stored is None else stored.record.correlation_id

    async def replacement_attempted(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        attempted_at: datetime,
        requested_at: datetime | None,
    ) -> None:
        stored = self.replacements[order_id, claim_id]
        stored.record = replace(stored.record, attempts=stored.record.attempts + 1)
        stored.last_attempt_at = attempted_at
        if requested_at is not None:
            stored.status, stored.requested_at = "requested", requested_at

    async def backordered_replacements(
        self,
        limit: int,
        *,
        tried_before: datetime,
        skipping: Sequence[tuple[uuid.UUID, str]] = (),
    ) -> list[ReplacementRecord]:
        waiting = [
            (key, stored)
            for key, stored in self.replacements.items()  # in the order they were created
            if stored.status == "awaiting_stock"
            and (stored.last_attempt_at is None or stored.last_attempt_at < tried_before)
            and key not in skipping
        ]
        never = datetime.min.replace(tzinfo=UTC)  # NULLS FIRST
        waiting.sort(key=lambda item: item[1].last_attempt_at or never)
        return [stored.record for _, stored in waiting[:limit]]

    async def retry_first(self, skus: Collection[str]) -> None:
        for stored in self.replacements.values():
            waits_for_one = any(line.sku in skus for line in stored.record.lines)
            if stored.status == "awaiting_stock" and waits_for_one:
                stored.last_attempt_at = None


# ---------------------------------------------------------------------------------- RMAs


@dataclass
class InMemoryRmas:
    rmas: dict[uuid.UUID, RmaRecord] = field(default_factory=dict)
    received_lines: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)
    return_by: dict[uuid.UUID, date] = field(default_factory=dict)

    async def lock_rma(self, rma_id: uuid.UUID) -> RmaRecord:
        return self.rmas.setdefault(
            rma_id, RmaRecord(rma_id, None, None, None, None, None, None, False, None)
        )

    async def authorize_rma(
        self,
        rma_id: uuid.UUID,
        *,
        order_id: uuid.UUID,
        lines: dict[str, int],
        return_by: date,
        authorized_at: datetime,
        correlation_id: str,
    ) -> None:
        self.rmas[rma_id] = replace(
            self.rmas[rma_id],
            order_id=order_id,
            authorized_lines=dict(lines),
            correlation_id=correlation_id,
        )
        self.return_by[rma_id] = return_by

    async def receive_rma(
        self,
        rma_id: uuid.UUID,
        *,
        warehouse_id: str,
        received_lines: list[dict[str, Any]],
        received_at: datetime,
        restocked: dict[str, int],
        written_off: dict[str, int],
    ) -> None:
        self.rmas[rma_id] = replace(
            self.rmas[rma_id],
            received_warehouse_id=warehouse_id,
            received_at=received_at,
            restocked=dict(restocked),
            written_off=dict(written_off),
        )
        self.received_lines[rma_id] = received_lines

    async def mark_restock_reported(self, rma_id: uuid.UUID) -> None:
        self.rmas[rma_id] = replace(self.rmas[rma_id], restocked_reported=True)


# ----------------------------------------------------------------------------- anomalies


@dataclass
class InMemoryAnomalies:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def reasons(self) -> list[str]:
        return [row["reason"] for row in self.rows]

    def of(self, reason: AnomalyReason) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["reason"] == reason.value]

    async def record(
        self,
        reason: AnomalyReason,
        *,
        cause: Envelope | None = None,
        order_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
        rma_id: uuid.UUID | None = None,
        warehouse_id: str | None = None,
        sku: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.rows.append(
            {
                "id": len(self.rows) + 1,
                "reason": reason.value,
                "event_type": cause.event_type if cause else None,
                "event_id": cause.event_id if cause else None,
                "aggregate_id": cause.aggregate_id if cause else None,
                "order_id": order_id,
                "shipment_id": shipment_id,
                "rma_id": rma_id,
                "warehouse_id": warehouse_id,
                "sku": sku,
                "detail": detail or {},
            }
        )

    async def newest(self, *, reason: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        chosen = [r for r in reversed(self.rows) if reason is None or r["reason"] == reason]
        return [
            {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}
            for row in chosen[:limit]
        ]


# ---------------------------------------------------------------------------------- locks


@dataclass
class RecordedLockAhead:
    """Nothing to lock in memory (one use case at a time): records what was asked for."""

    calls: list[dict[str, list[Any]]] = field(default_factory=list)
    shipments_read: list[bool] = field(default_factory=list)  # read_shipments, per call

    async def lock_ahead(
        self,
        *,
        orders: Iterable[uuid.UUID] = (),
        releasing: Iterable[uuid.UUID] = (),
        shipments: Iterable[uuid.UUID] = (),
        rmas: Iterable[uuid.UUID] = (),
        skus: Iterable[str] = (),
        read_shipments: bool = False,
    ) -> None:
        self.calls.append(
            {
                "orders": sorted(orders),
                "releasing": sorted(releasing),
                "shipments": sorted(shipments),
                "rmas": sorted(rmas),
                "skus": sorted(skus),
            }
        )
        self.shipments_read.append(read_shipments)

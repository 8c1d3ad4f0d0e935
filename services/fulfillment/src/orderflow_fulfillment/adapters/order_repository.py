"""Orders, their shipments, replacements, RMAs and anomalies in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from orderflow_chassis.database import Connection
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import PostalAddress

from orderflow_fulfillment.domain.allocation import Allocation, Line
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus


@dataclass(frozen=True)
class NamedLine:
    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class OrderRecord:
    order_id: uuid.UUID
    status: OrderStatus
    ship_to: PostalAddress | None
    shipping_service: str | None
    correlation_id: str
    expires_at: datetime | None
    release_reason: str | None


@dataclass(frozen=True)
class ShipmentRecord:
    shipment_id: uuid.UUID
    order_id: uuid.UUID
    warehouse_id: str
    status: ShipmentStatus
    replacement: bool
    claim_id: str | None
    ship_to: PostalAddress
    shipping_service: str
    carrier: str | None
    tracking_number: str | None
    dispatched_at: datetime | None
    delivered_at: datetime | None
    lines: tuple[NamedLine, ...]

    def allocations(self) -> list[Allocation]:
        return [Allocation(self.warehouse_id, line.sku, line.quantity) for line in self.lines]


@dataclass(frozen=True)
class RmaRecord:
    rma_id: uuid.UUID
    order_id: uuid.UUID | None
    authorized_lines: dict[str, int] | None
    received_warehouse_id: str | None
    received_at: datetime | None
    restocked: dict[str, int] | None
    written_off: dict[str, int] | None
    restocked_reported: bool
    correlation_id: str | None


@dataclass(frozen=True)
class ReplacementRecord:
    order_id: uuid.UUID
    claim_id: str
    lines: tuple[Line, ...]
    ship_to: PostalAddress
    correlation_id: str
    attempts: int


def _address(value: Any) -> PostalAddress | None:
    return PostalAddress.model_validate(value) if value is not None else None


class OrderRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    # ------------------------------------------------------------------------------- orders

    async def lock_order(self, order_id: uuid.UUID, *, lock: bool = True) -> OrderRecord | None:
        """The order, row-locked until the transaction ends (``lock=False`` for reads)."""
        row = await self._db.fetchrow(
            f"""
            SELECT order_id, status, ship_to, shipping_service, correlation_id, expires_at,
                   release_reason
            FROM {self._s}.orders WHERE order_id = $1 {"FOR UPDATE" if lock else ""}
            """,
            order_id,
        )
        if row is None:
            return None
        return OrderRecord(
            order_id=row["order_id"],
            status=OrderStatus(row["status"]),
            ship_to=_address(row["ship_to"]),
            shipping_service=row["shipping_service"],
            correlation_id=row["correlation_id"],
            expires_at=row["expires_at"],
            release_reason=row["release_reason"],
        )

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
        """Insert the order; False if it exists already (another event got there first)."""
        inserted = await self._db.fetchval(
            f"""
            INSERT INTO {self._s}.orders (order_id, status, ship_to, shipping_service,
                correlation_id, reserved_at, expires_at, released_at, release_reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (order_id) DO NOTHING RETURNING true
            """,
            order_id,
            status.value,
            ship_to.model_dump(mode="json") if ship_to is not None else None,
            shipping_service,
            correlation_id,
            reserved_at,
            expires_at,
            released_at,
            release_reason,
        )
        if inserted and lines:
            await self._db.executemany(
                f"""
                INSERT INTO {self._s}.order_lines (order_id, sku, name, quantity)
                VALUES ($1, $2, $3, $4)
                """,
                [(order_id, line.sku, line.name, line.quantity) for line in lines],
            )
        return bool(inserted)

    async def update_order(
        self,
        order_id: uuid.UUID,
        status: OrderStatus,
        *,
        released_at: datetime | None = None,
        release_reason: str | None = None,
        captured_at: datetime | None = None,
        completed_at: datetime | None = None,
        reserved_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        await self._db.execute(
            f"""
            UPDATE {self._s}.orders
            SET status = $2,
                released_at = coalesce($3, released_at),
                release_reason = coalesce($4, release_reason),
                captured_at = coalesce($5, captured_at),
                completed_at = coalesce($6, completed_at),
                reserved_at = coalesce($7, reserved_at),
                expires_at = coalesce($8, expires_at),
                updated_at = now()
            WHERE order_id = $1
            """,
            order_id,
            status.value,
            released_at,
            release_reason,
            captured_at,
            completed_at,
            reserved_at,
            expires_at,
        )

    async def order_lines(self, order_id: uuid.UUID) -> list[NamedLine]:
        rows = await self._db.fetch(
            f"""
            SELECT sku, name, quantity FROM {self._s}.order_lines WHERE order_id = $1
            ORDER BY sku
            """,
            order_id,
        )
        return [NamedLine(r["sku"], r["name"], r["quantity"]) for r in rows]

    async def line_names(self, order_id: uuid.UUID) -> dict[str, str]:
        return {line.sku: line.name for line in await self.order_lines(order_id)}

    async def expired_reservations(self, now: datetime, limit: int) -> list[uuid.UUID]:
        """Reserved orders past their expiry, locked; rows another transaction holds are
        skipped (it is deciding their fate right now)."""
        rows = await self._db.fetch(
            f"""
            SELECT order_id FROM {self._s}.orders
            WHERE status = 'reserved' AND expires_at <= $1
            ORDER BY expires_at LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        return [r["order_id"] for r in rows]

    # ---------------------------------------------------------------------------- shipments

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
        await self._db.execute(
            f"""
            INSERT INTO {self._s}.shipments (shipment_id, order_id, warehouse_id, status,
                replacement, claim_id, ship_to, shipping_service, requested_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            shipment_id,
            order_id,
            warehouse_id,
            status.value,
            replacement,
            claim_id,
            ship_to.model_dump(mode="json"),
            shipping_service,
            requested_at,
        )
        await self._db.executemany(
            f"""
            INSERT INTO {self._s}.shipment_lines (shipment_id, sku, name, quantity)
            VALUES ($1, $2, $3, $4)
            """,
            [(shipment_id, line.sku, line.name, line.quantity) for line in lines],
        )

    async def _shipments(self, where: str, *args: Any) -> list[ShipmentRecord]:
        rows = await self._db.fetch(
            f"""
            SELECT s.*, coalesce(
                (SELECT json_agg(json_build_array(l.sku, l.name, l.quantity) ORDER BY l.sku)
                 FROM {self._s}.shipment_lines l WHERE l.shipment_id = s.shipment_id),
                '[]') AS lines
            FROM {self._s}.shipments s WHERE {where}
            ORDER BY s.created_at, s.shipment_id
            """,
            *args,
        )
        return [
            ShipmentRecord(
                shipment_id=r["shipment_id"],
                order_id=r["order_id"],
                warehouse_id=r["warehouse_id"],
                status=ShipmentStatus(r["status"]),
                replacement=r["replacement"],
                claim_id=r["claim_id"],
                ship_to=PostalAddress.model_validate(r["ship_to"]),
                shipping_service=r["shipping_service"],
                carrier=r["carrier"],
                tracking_number=r["tracking_number"],
                dispatched_at=r["dispatched_at"],
                delivered_at=r["delivered_at"],
                lines=tuple(NamedLine(sku, name, qty) for sku, name, qty in r["lines"]),
            )
            for r in rows
        ]

    async def shipments_of(self, order_id: uuid.UUID) -> list[ShipmentRecord]:
        return await self._shipments("s.order_id = $1", order_id)

    async def lock_shipment(self, shipment_id: uuid.UUID) -> ShipmentRecord | None:
        await self._db.execute(
            f"SELECT 1 FROM {self._s}.shipments WHERE shipment_id = $1 FOR UPDATE", shipment_id
        )
        found = await self._shipments("s.shipment_id = $1", shipment_id)
        return found[0] if found else None

    async def set_shipment_status(
        self,
        shipment_ids: Sequence[uuid.UUID],
        status: ShipmentStatus,
        *,
        at: datetime,
    ) -> None:
        column = {
            ShipmentStatus.REQUESTED: "requested_at",
            ShipmentStatus.RELEASED: "released_at",
        }[status]
        await self._db.execute(
            f"""
            UPDATE {self._s}.shipments SET status = $2, {column} = $3, updated_at = now()
            WHERE shipment_id = ANY($1::uuid[])
            """,
            list(shipment_ids),
            status.value,
            at,
        )

    async def mark_dispatched(
        self,
        shipment_id: uuid.UUID,
        *,
        carrier: str,
        tracking_number: str,
        dispatched_at: datetime,
        keep_status: bool = False,
    ) -> None:
        await self._db.execute(
            f"""
            UPDATE {self._s}.shipments
            SET status = CASE WHEN $5 THEN status ELSE 'dispatched' END,
                carrier = $2, tracking_number = $3, dispatched_at = $4, updated_at = now()
            WHERE shipment_id = $1
            """,
            shipment_id,
            carrier,
            tracking_number,
            dispatched_at,
            keep_status,
        )

    async def mark_delivered(self, shipment_id: uuid.UUID, *, delivered_at: datetime) -> None:
        await self._db.execute(
            f"""
            UPDATE {self._s}.shipments
            SET status = 'delivered', delivered_at = $2, updated_at = now()
            WHERE shipment_id = $1
            """,
            shipment_id,
            delivered_at,
        )

    # ------------------------------------------------------------------------- replacements

    async def insert_replacement(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        lines: Sequence[Line],
        ship_to: PostalAddress,
        correlation_id: str,
    ) -> bool:
        inserted = await self._db.fetchval(
            f"""
            INSERT INTO {self._s}.replacements (order_id, claim_id, status, lines, ship_to,
                correlation_id)
            VALUES ($1, $2, 'awaiting_stock', $3, $4, $5)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            order_id,
            claim_id,
            [[line.sku, line.quantity] for line in lines],
            ship_to.model_dump(mode="json"),
            correlation_id,
        )
        return bool(inserted)

    async def replacement_attempted(
        self, order_id: uuid.UUID, claim_id: str, *, requested_at: datetime | None
    ) -> None:
        await self._db.execute(
            f"""
            UPDATE {self._s}.replacements
            SET attempts = attempts + 1, updated_at = now(),
                status = CASE WHEN $3::timestamptz IS NULL THEN status ELSE 'requested' END,
                requested_at = coalesce($3, requested_at)
            WHERE order_id = $1 AND claim_id = $2
            """,
            order_id,
            claim_id,
            requested_at,
        )

    async def backordered_replacements(self, limit: int) -> list[ReplacementRecord]:
        rows = await self._db.fetch(
            f"""
            SELECT order_id, claim_id, lines, ship_to, correlation_id, attempts
            FROM {self._s}.replacements WHERE status = 'awaiting_stock'
            ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED
            """,
            limit,
        )
        return [
            ReplacementRecord(
                order_id=r["order_id"],
                claim_id=r["claim_id"],
                lines=tuple(Line(sku, qty) for sku, qty in r["lines"]),
                ship_to=PostalAddress.model_validate(r["ship_to"]),
                correlation_id=r["correlation_id"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    # --------------------------------------------------------------------------------- RMAs

    async def lock_rma(self, rma_id: uuid.UUID) -> RmaRecord:
        """The RMA's row, created empty if new, locked: its authorisation and its parcel can
        be applied concurrently (two topics) and must see each other."""
        await self._db.execute(
            f"INSERT INTO {self._s}.rmas (rma_id) VALUES ($1) ON CONFLICT DO NOTHING", rma_id
        )
        row = await self._db.fetchrow(
            f"SELECT * FROM {self._s}.rmas WHERE rma_id = $1 FOR UPDATE", rma_id
        )
        assert row is not None  # created just above, in this transaction
        return RmaRecord(
            rma_id=row["rma_id"],
            order_id=row["order_id"],
            authorized_lines=row["authorized_lines"],
            received_warehouse_id=row["received_warehouse_id"],
            received_at=row["received_at"],
            restocked=row["restocked"],
            written_off=row["written_off"],
            restocked_reported=row["restocked_reported_at"] is not None,
            correlation_id=row["correlation_id"],
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
        await self._db.execute(
            f"""
            UPDATE {self._s}.rmas
            SET order_id = $2, authorized_lines = $3, return_by = $4, authorized_at = $5,
                correlation_id = $6, updated_at = now()
            WHERE rma_id = $1
            """,
            rma_id,
            order_id,
            lines,
            return_by,
            authorized_at,
            correlation_id,
        )

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
        await self._db.execute(
            f"""
            UPDATE {self._s}.rmas
            SET received_warehouse_id = $2, received_lines = $3, received_at = $4,
                restocked = $5, written_off = $6, updated_at = now()
            WHERE rma_id = $1
            """,
            rma_id,
            warehouse_id,
            received_lines,
            received_at,
            restocked,
            written_off,
        )

    async def mark_restock_reported(self, rma_id: uuid.UUID) -> None:
        await self._db.execute(
            f"UPDATE {self._s}.rmas SET restocked_reported_at = now(), updated_at = now() "
            "WHERE rma_id = $1",
            rma_id,
        )

    # ---------------------------------------------------------------------------- anomalies

    async def record_anomaly(
        self,
        reason: AnomalyReason,
        *,
        envelope: Envelope | None = None,
        order_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
        rma_id: uuid.UUID | None = None,
        warehouse_id: str | None = None,
        sku: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self._db.execute(
            f"""
            INSERT INTO {self._s}.anomalies (reason, event_type, event_id, aggregate_id,
                order_id, shipment_id, rma_id, warehouse_id, sku, detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            reason.value,
            envelope.event_type if envelope else None,
            envelope.event_id if envelope else None,
            envelope.aggregate_id if envelope else None,
            order_id,
            shipment_id,
            rma_id,
            warehouse_id,
            sku,
            detail or {},
        )

    async def anomalies(
        self, *, reason: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            f"""
            SELECT id, reason, event_type, event_id, aggregate_id, order_id, shipment_id,
                   rma_id, warehouse_id, sku, detail, recorded_at
            FROM {self._s}.anomalies
            WHERE ($1::text IS NULL OR reason = $1)
            ORDER BY id DESC LIMIT $2
            """,
            reason,
            limit,
        )
        return [
            {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in r.items()} for r in rows
        ]

"""Shipments (one per warehouse and order, or per replacement) and their lines, in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orderflow_chassis.database import Connection
from orderflow_contracts.events import PostalAddress

from orderflow_fulfillment.adapters.line_arrays import line_columns
from orderflow_fulfillment.domain.shipments import ShipmentStatus
from orderflow_fulfillment.ports import NamedLine, ShipmentRecord


class ShipmentRepository:
    """The :class:`~orderflow_fulfillment.ports.Shipments` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

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
        # One round trip: the shipment and its lines.
        await self._db.execute(
            f"""
            WITH shipment AS (
                INSERT INTO {self._s}.shipments (shipment_id, order_id, warehouse_id, status,
                    replacement, claim_id, ship_to, shipping_service, requested_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                RETURNING shipment_id
            )
            INSERT INTO {self._s}.shipment_lines (shipment_id, sku, name, quantity)
            SELECT shipment.shipment_id, l.sku, l.name, l.quantity
            FROM shipment, unnest($10::text[], $11::text[], $12::int[]) AS l(sku, name, quantity)
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
            *line_columns(lines),
        )

    async def _shipments(
        self, where: str, *args: Any, for_update: bool = False
    ) -> list[ShipmentRecord]:
        # Locked rows are read as they are once the lock is ours; their lines come from the
        # statement's snapshot, which is safe only because lines are never changed after the
        # transaction that inserted them with their shipment.
        rows = await self._db.fetch(
            f"""
            SELECT s.*, coalesce(
                (SELECT json_agg(json_build_array(l.sku, l.name, l.quantity) ORDER BY l.sku)
                 FROM {self._s}.shipment_lines l WHERE l.shipment_id = s.shipment_id),
                '[]') AS lines
            FROM {self._s}.shipments s WHERE {where}
            ORDER BY s.created_at, s.shipment_id
            {"FOR UPDATE OF s" if for_update else ""}
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
        found = await self._shipments("s.shipment_id = $1", shipment_id, for_update=True)
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

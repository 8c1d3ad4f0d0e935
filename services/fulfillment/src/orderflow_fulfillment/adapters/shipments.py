"""Shipments (one per warehouse and order, or per replacement) and their lines, in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_contracts.events import PostalAddress

from orderflow_fulfillment.adapters.line_arrays import line_columns
from orderflow_fulfillment.domain.shipments import ShipmentStatus
from orderflow_fulfillment.ports import NamedLine, ShipmentRecord


async def read_shipments(
    db: Connection, schema: str, where: str, *args: Any, for_update: bool = False
) -> list[ShipmentRecord]:
    # Locked rows are read as they are once the lock is ours; their lines come from the
    # statement's snapshot, which is safe only because lines are never changed after the
    # transaction that inserted them with their shipment.
    rows = await db.fetch(
        f"""
        SELECT s.*, coalesce(
            (SELECT json_agg(json_build_array(l.sku, l.name, l.quantity) ORDER BY l.sku)
             FROM {schema}.shipment_lines l WHERE l.shipment_id = s.shipment_id),
            '[]') AS lines
        FROM {schema}.shipments s WHERE {where}
        ORDER BY s.created_at, s.shipment_id
        {"FOR UPDATE OF s" if for_update else ""}
        """,
        *args,
    )
    return [_shipment_record(r) for r in rows]


def _shipment_record(r: asyncpg.Record) -> ShipmentRecord:
    return ShipmentRecord(
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
        requested_at=r["requested_at"],
    )


@dataclass
class _KeptShipments:
    by_order: dict[uuid.UUID, list[ShipmentRecord]] = field(default_factory=dict)
    by_id: dict[uuid.UUID, ShipmentRecord] = field(default_factory=dict)


# The shipments of the orders a batch's lock_ahead locked, read right after the locks and
# handed out by ``shipments_of`` and ``lock_shipment`` for the rest of the transaction without
# a query. Every writer of a shipment holds its order's lock (the consumers' lock_ahead, the
# expiry job's), which this transaction holds, so no other can change them; a write here drops
# the order's entry first, so a write undone with its record's savepoint is never handed out.
_KEPT: TransactionLocal[_KeptShipments] = TransactionLocal("shipments_of_locked_orders")


async def keep_shipments_of(db: Connection, schema: str, order_ids: Sequence[uuid.UUID]) -> None:
    """Read and keep the shipments of ``order_ids``, whose locks this transaction holds."""
    kept = _KeptShipments({order_id: [] for order_id in order_ids})
    for shipment in await read_shipments(db, schema, "s.order_id = ANY($1::uuid[])", order_ids):
        kept.by_order[shipment.order_id].append(shipment)
        kept.by_id[shipment.shipment_id] = shipment
    _KEPT.set(db, kept)


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
        self._forget(order_id=order_id)
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

    async def shipments_of(self, order_id: uuid.UUID) -> list[ShipmentRecord]:
        kept = _KEPT.get(self._db)
        if kept is not None and order_id in kept.by_order:
            return list(kept.by_order[order_id])
        return await read_shipments(self._db, self._s, "s.order_id = $1", order_id)

    async def lock_shipment(self, shipment_id: uuid.UUID) -> ShipmentRecord | None:
        kept = _KEPT.get(self._db)
        if kept is not None and shipment_id in kept.by_id:
            # Its order's lock is this transaction's: no other can change the row.
            return kept.by_id[shipment_id]
        found = await read_shipments(
            self._db, self._s, "s.shipment_id = $1", shipment_id, for_update=True
        )
        return found[0] if found else None

    def _forget(
        self, *, order_id: uuid.UUID | None = None, shipment_ids: Sequence[uuid.UUID] = ()
    ) -> None:
        kept = _KEPT.get(self._db)
        if kept is None:
            return
        orders = {kept.by_id[i].order_id for i in shipment_ids if i in kept.by_id}
        if order_id is not None:
            orders.add(order_id)
        for order in orders:
            for shipment in kept.by_order.pop(order, ()):
                kept.by_id.pop(shipment.shipment_id, None)

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
        self._forget(shipment_ids=shipment_ids)
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
        self._forget(shipment_ids=[shipment_id])
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
        self._forget(shipment_ids=[shipment_id])
        await self._db.execute(
            f"""
            UPDATE {self._s}.shipments
            SET status = 'delivered', delivered_at = $2, updated_at = now()
            WHERE shipment_id = $1
            """,
            shipment_id,
            delivered_at,
        )

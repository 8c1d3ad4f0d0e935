"""Anomalies: events that did not fit the state they met, kept for ops, in PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from orderflow_chassis.database import Connection
from orderflow_contracts.envelope import Envelope

from orderflow_fulfillment.domain.shipments import AnomalyReason


class AnomalyRepository:
    """The :class:`~orderflow_fulfillment.ports.Anomalies` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

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
        await self._db.execute(
            f"""
            INSERT INTO {self._s}.anomalies (reason, event_type, event_id, aggregate_id,
                order_id, shipment_id, rma_id, warehouse_id, sku, detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            reason.value,
            cause.event_type if cause else None,
            cause.event_id if cause else None,
            cause.aggregate_id if cause else None,
            order_id,
            shipment_id,
            rma_id,
            warehouse_id,
            sku,
            detail or {},
        )

    async def newest(self, *, reason: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
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

"""Return authorisations (RMAs) and the parcels that came back for them, in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from orderflow_chassis.database import Connection

from orderflow_fulfillment.ports import RmaRecord


class RmaRepository:
    """The :class:`~orderflow_fulfillment.ports.Rmas` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

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

"""SQL for what ops read about RMAs (the ``rmas`` command and ``GET /rmas``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from orderflow_returns.adapters._sql import SqlRepository
from orderflow_returns.ports import RmaQuery


class SqlRmaReports(SqlRepository):
    async def rmas(self, query: RmaQuery) -> list[dict[str, Any]]:
        rows = await self.connection.fetch(
            f"""
            SELECT r.rma_id, r.order_id, r.return_request_id, r.state, r.reason,
                   r.authorised_at, r.return_by, r.received_at, r.warehouse_id,
                   r.current_refund_id AS refund_id, r.refund_attempts, r.currency,
                   r.refund_amount, r.shipping_refund, r.problem_code, r.problem_message,
                   r.closed_at, r.updated_at,
                   COALESCE(json_agg(json_build_object(
                       'sku', l.sku, 'authorised', l.authorised_quantity,
                       'received', l.received_quantity, 'damaged', l.damaged_quantity,
                       'returned', l.returned_quantity, 'refund_amount', l.refund_amount::text)
                       ORDER BY l.sku) FILTER (WHERE l.sku IS NOT NULL), '[]') AS lines
            FROM {self.s}.rmas r LEFT JOIN {self.s}.rma_lines l USING (rma_id)
            WHERE ($1::text IS NULL OR r.state = $1) AND ($2::uuid IS NULL OR r.order_id = $2)
              AND ($3::uuid IS NULL OR r.rma_id = $3)
            GROUP BY r.rma_id
            ORDER BY r.updated_at DESC, r.rma_id
            LIMIT $4
            """,
            query.state.value if query.state else None,
            query.order_id,
            query.rma_id,
            query.limit,
        )
        return [jsonable(dict(row)) for row in rows]


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ids, amounts and times as strings (as JSON carries them)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID | Decimal):
            out[key] = str(value)
        elif isinstance(value, datetime | date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out

"""Reads two of the three records reconciliation compares: the service's and its ledger's.

The third, the provider's, is a ``ProviderRecord`` (``sandbox_record.py`` for the sandbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier

from orderflow_payment.domain.reconciliation import RecordedFigures, Selection


class SqlReconciliation:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def select_orders(
        self,
        *,
        since: datetime | None,
        only: Sequence[uuid.UUID] | None,
        settle_s: float,
    ) -> Selection:
        s = self._schema
        rows = await self._connection.fetch(
            f"""
            WITH activity AS (
                SELECT order_id, created_at AS at FROM {s}.payments
                UNION ALL SELECT order_id, updated_at FROM {s}.payments
                UNION ALL SELECT order_id, created_at FROM {s}.ledger_transactions
                UNION ALL SELECT order_id, updated_at FROM {s}.refunds
                UNION ALL SELECT merchant_reference::uuid, created_at FROM {s}.sandbox_operations
            )
            SELECT order_id, max(at) AS last_at, min(at) AS first_at FROM activity
            WHERE ($2::uuid[] IS NULL OR order_id = ANY($2::uuid[]))
            GROUP BY order_id
            HAVING $1::timestamptz IS NULL OR max(at) >= $1::timestamptz
            ORDER BY min(at), order_id
            """,
            since,
            list(only) if only else None,
        )
        now = await self._connection.fetchval("SELECT now()")
        settled, in_flight = [], []
        for row in rows:
            if (now - row["last_at"]).total_seconds() < settle_s:
                in_flight.append(row["order_id"])
            else:
                settled.append(row["order_id"])
        return Selection(settled, in_flight)

    async def figures(self, order_ids: Sequence[uuid.UUID]) -> list[RecordedFigures]:
        s = self._schema
        rows = await self._connection.fetch(
            f"""
            WITH selected AS (SELECT unnest($1::uuid[]) AS order_id),
            ledger AS (
                SELECT order_id, min(currency) AS currency,
                    coalesce(sum(amount_minor)
                        FILTER (WHERE account = 'provider_receivable'), 0)::bigint AS receivable,
                    coalesce(sum(amount_minor)
                        FILTER (WHERE account = 'authorisation_holds'), 0)::bigint AS holds
                FROM {s}.ledger_entries WHERE order_id = ANY($1::uuid[]) GROUP BY order_id
            ),
            captures AS (
                SELECT order_id, count(*) AS n FROM {s}.ledger_transactions
                WHERE kind = 'capture' AND order_id = ANY($1::uuid[]) GROUP BY order_id
            ),
            refunds AS (
                SELECT order_id, sum(amount_minor)::bigint AS issued FROM {s}.refunds
                WHERE status = 'issued' AND order_id = ANY($1::uuid[]) GROUP BY order_id
            )
            SELECT sel.order_id, p.status, coalesce(p.currency, l.currency) AS currency,
                   coalesce(p.amount_minor, 0) AS authorised,
                   coalesce(p.captured_minor, 0) AS captured,
                   coalesce(p.refunded_minor, 0) AS refunded,
                   coalesce(r.issued, 0) AS refunds_issued,
                   coalesce(l.receivable, 0) AS receivable,
                   coalesce(l.holds, 0) AS holds,
                   coalesce(c.n, 0) AS ledger_captures
            FROM selected sel
            LEFT JOIN {s}.payments p USING (order_id)
            LEFT JOIN ledger l USING (order_id)
            LEFT JOIN captures c USING (order_id)
            LEFT JOIN refunds r USING (order_id)
            """,
            list(order_ids),
        )
        return [
            RecordedFigures(
                order_id=row["order_id"],
                currency=row["currency"],
                status=row["status"],
                authorised=row["authorised"],
                captured=row["captured"],
                refunded=row["refunded"],
                refunds_issued=row["refunds_issued"],
                ledger_receivable=row["receivable"],
                ledger_holds=row["holds"],
                ledger_captures=row["ledger_captures"],
            )
            for row in rows
        ]

    async def ledger_balances(self, order_ids: Sequence[uuid.UUID] | None) -> dict[str, int]:
        """Sum of all entries per currency (of the selected orders' transactions, or all)."""
        rows = await self._connection.fetch(
            f"""
            SELECT currency, sum(amount_minor)::bigint AS total FROM {self._schema}.ledger_entries
            WHERE $1::uuid[] IS NULL OR order_id = ANY($1::uuid[])
            GROUP BY currency ORDER BY currency
            """,
            list(order_ids) if order_ids is not None else None,
        )
        return {row["currency"].strip(): int(row["total"]) for row in rows}

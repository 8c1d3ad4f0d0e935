"""The sandbox provider's side of reconciliation: what it recorded in its own tables.

A real provider's adapter would load its settlement or transaction report (by merchant
reference = order id) into the same ``ProviderTotals``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier

from orderflow_payment.domain.reconciliation import ProviderTotals


class SandboxRecord:
    """The sandbox provider's own record of what it did, per merchant reference (order id)."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def totals(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ProviderTotals]:
        s = self._schema
        rows = await self._connection.fetch(
            f"""
            SELECT o.merchant_reference::uuid AS order_id,
                count(*) FILTER (WHERE o.operation = 'authorise' AND o.outcome = 'approved')
                    AS authorisations,
                count(*) FILTER (WHERE o.operation = 'authorise' AND o.outcome = 'approved'
                    AND NOT EXISTS (
                        SELECT 1 FROM {s}.sandbox_operations c
                        WHERE c.parent_reference = o.reference
                          AND c.operation IN ('capture', 'void') AND c.outcome = 'approved'))
                    AS open_authorisations,
                count(*) FILTER (WHERE o.operation = 'capture' AND o.outcome = 'approved')
                    AS captures,
                coalesce(sum(o.amount_minor)
                    FILTER (WHERE o.operation = 'capture' AND o.outcome = 'approved'), 0)::bigint
                    AS captured,
                coalesce(sum(o.amount_minor)
                    FILTER (WHERE o.operation = 'refund' AND o.outcome = 'approved'), 0)::bigint
                    AS refunded,
                array_agg(DISTINCT o.currency) AS currencies
            FROM {s}.sandbox_operations o
            WHERE o.merchant_reference = ANY($1::text[])
            GROUP BY 1
            """,
            [str(order_id) for order_id in order_ids],
        )
        return {
            row["order_id"]: ProviderTotals(
                authorisations=row["authorisations"],
                open_authorisations=row["open_authorisations"],
                captures=row["captures"],
                captured=row["captured"],
                refunded=row["refunded"],
                currencies=frozenset(c.strip() for c in row["currencies"]),
            )
            for row in rows
        }

"""SQL for ``order_facts``: stock outcomes and cancellations, whatever arrives first."""

from __future__ import annotations

import uuid

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier

from orderflow_payment.domain.model import OrderFacts, StockStatus


class SqlOrderFacts:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def facts(self, order_id: uuid.UUID) -> OrderFacts:
        row = await self._connection.fetchrow(
            f"""
            SELECT stock_status, cancelled_reason FROM {self._schema}.order_facts
            WHERE order_id = $1
            """,
            order_id,
        )
        if row is None:
            return OrderFacts()
        stock = row["stock_status"]
        return OrderFacts(StockStatus(stock) if stock else None, row["cancelled_reason"])

    async def record_stock(self, order_id: uuid.UUID, status: StockStatus) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.order_facts (order_id, stock_status) VALUES ($1, $2)
            ON CONFLICT (order_id) DO UPDATE
            SET stock_status = EXCLUDED.stock_status, updated_at = now()
            """,
            order_id,
            status.value,
        )

    async def record_cancellation(self, order_id: uuid.UUID, reason: str) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.order_facts (order_id, cancelled_reason) VALUES ($1, $2)
            ON CONFLICT (order_id) DO UPDATE
            SET cancelled_reason =
                    coalesce(order_facts.cancelled_reason, EXCLUDED.cancelled_reason),
                updated_at = now()
            """,
            order_id,
            reason,
        )

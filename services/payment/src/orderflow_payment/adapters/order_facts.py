"""SQL for ``order_facts``: stock outcomes and cancellations, whatever arrives first."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from asyncpg import Record
from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.settings import validate_identifier

from orderflow_payment.domain.model import OrderFacts, StockStatus

# A batch's order facts, read at once after its locks (``read_ahead``) and handed out by
# ``facts`` until this transaction writes them (see ``payments._READ``: the same rules).
_READ: TransactionLocal[dict[uuid.UUID, OrderFacts]] = TransactionLocal("order_facts_read")


class SqlOrderFacts:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def read_ahead(self, order_ids: Iterable[uuid.UUID]) -> None:
        wanted = list(set(order_ids))
        rows = await self._connection.fetch(
            f"""
            SELECT order_id, stock_status, cancelled_reason FROM {self._schema}.order_facts
            WHERE order_id = ANY($1::uuid[])
            """,
            wanted,
        )
        read = dict.fromkeys(wanted, OrderFacts())
        for row in rows:
            read[row["order_id"]] = _facts(row)
        _READ.set(self._connection, read)

    def _forget(self, order_id: uuid.UUID) -> None:
        read = _READ.get(self._connection)
        if read is not None:
            read.pop(order_id, None)

    async def facts(self, order_id: uuid.UUID) -> OrderFacts:
        read = _READ.get(self._connection)
        if read is not None and order_id in read:
            return read[order_id]  # frozen: shared safely
        row = await self._connection.fetchrow(
            f"""
            SELECT stock_status, cancelled_reason FROM {self._schema}.order_facts
            WHERE order_id = $1
            """,
            order_id,
        )
        return OrderFacts() if row is None else _facts(row)

    async def record_stock(self, order_id: uuid.UUID, status: StockStatus) -> None:
        self._forget(order_id)
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
        self._forget(order_id)
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


def _facts(row: Record) -> OrderFacts:
    stock = row["stock_status"]
    return OrderFacts(StockStatus(stock) if stock else None, row["cancelled_reason"])

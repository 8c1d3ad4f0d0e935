"""SQL for the answers given to customers' return requests."""

from __future__ import annotations

import uuid
from datetime import datetime

from orderflow_returns.adapters._sql import SqlRepository


class SqlReturnRequests(SqlRepository):
    async def known(self, order_id: uuid.UUID, request_id: str) -> bool:
        return bool(
            await self.connection.fetchval(
                f"""
                SELECT EXISTS (SELECT 1 FROM {self.s}.return_requests
                               WHERE order_id = $1 AND return_request_id = $2)
                """,
                order_id,
                request_id,
            )
        )

    async def record(
        self,
        order_id: uuid.UUID,
        request_id: str,
        *,
        outcome: str,
        requested_at: datetime,
        decided_at: datetime,
        rma_id: uuid.UUID | None = None,
        reason_code: str | None = None,
        message: str | None = None,
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.return_requests (order_id, return_request_id, outcome,
                reason_code, message, rma_id, requested_at, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            order_id,
            request_id,
            outcome,
            reason_code,
            message,
            rma_id,
            requested_at,
            decided_at,
        )

"""SQL for the order's refunds: requested by an RMA, or made by payment on its own."""

from __future__ import annotations

import uuid
from datetime import datetime

from orderflow_contracts.events.payments import REFUND_FAILURES_THAT_MAY_HAVE_PAID
from orderflow_contracts.money import Currency, Money

from orderflow_returns.adapters._sql import SqlRepository
from orderflow_returns.ports import RefundRecord


class SqlRefunds(SqlRepository):
    async def request(
        self,
        *,
        refund_id: uuid.UUID,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        attempt: int,
        amount: Money,
        shipping_refund: Money,
        at: datetime,
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.refunds (refund_id, order_id, rma_id, attempt, origin, state,
                amount, currency, shipping_refund, requested_at)
            VALUES ($1, $2, $3, $4, 'rma', 'requested', $5, $6, $7, $8)
            """,
            refund_id,
            order_id,
            rma_id,
            attempt,
            amount.amount,
            amount.currency.value,
            shipping_refund.amount,
            at,
        )

    async def get(self, refund_id: uuid.UUID, *, for_update: bool = False) -> RefundRecord | None:
        row = await self.connection.fetchrow(
            f"""
            SELECT refund_id, order_id, rma_id, origin, state, amount, currency, failure_code
            FROM {self.s}.refunds
            WHERE refund_id = $1 {"FOR UPDATE" if for_update else ""}
            """,
            refund_id,
        )
        if row is None:
            return None
        return RefundRecord(
            refund_id=row["refund_id"],
            order_id=row["order_id"],
            rma_id=row["rma_id"],
            origin=row["origin"],
            state=row["state"],
            amount=Money.of(row["amount"], row["currency"]),
            failure_code=row["failure_code"],
        )

    async def ask_again(self, refund_id: uuid.UUID, *, at: datetime) -> None:
        await self.connection.execute(
            f"""
            UPDATE {self.s}.refunds SET state = 'requested', requested_at = $2,
                settled_at = NULL, failure_code = NULL, failure_message = NULL
            WHERE refund_id = $1 AND state = 'failed'
            """,
            refund_id,
            at,
        )

    async def settle(
        self,
        refund_id: uuid.UUID,
        state: str,
        *,
        at: datetime,
        failure: tuple[str, str] | None = None,
    ) -> None:
        await self.connection.execute(
            f"""
            UPDATE {self.s}.refunds SET state = $2, settled_at = $3,
                failure_code = $4, failure_message = $5
            WHERE refund_id = $1
            """,
            refund_id,
            state,
            at,
            failure[0] if failure else None,
            failure[1] if failure else None,
        )

    async def record_external(
        self, refund_id: uuid.UUID, order_id: uuid.UUID, amount: Money, at: datetime
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.refunds (refund_id, order_id, origin, state, amount, currency,
                settled_at)
            VALUES ($1, $2, 'payment', 'issued', $3, $4, $5)
            ON CONFLICT (refund_id) DO NOTHING
            """,
            refund_id,
            order_id,
            amount.amount,
            amount.currency.value,
            at,
        )

    async def committed(self, order_id: uuid.UUID, currency: Currency) -> Money:
        committed = await self.connection.fetchval(
            f"""
            SELECT COALESCE(SUM(amount), 0) FROM {self.s}.refunds
            WHERE order_id = $1 AND currency = $2
              AND (state IN ('requested', 'issued')
                   OR (state = 'failed' AND failure_code = ANY($3::text[])))
            """,
            order_id,
            currency.value,
            sorted(REFUND_FAILURES_THAT_MAY_HAVE_PAID),
        )
        return Money.of(committed, currency)

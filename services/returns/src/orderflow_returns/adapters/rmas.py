"""SQL for return authorisations (RMAs) and their lines."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from orderflow_contracts.money import Currency, Money

from orderflow_returns.adapters._sql import SqlRepository
from orderflow_returns.adapters.orders import known_quiet, quiet_orders
from orderflow_returns.domain.returns import EarlierReturn
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.ports import PricedRefund, Rma


class SqlRmas(SqlRepository):
    def _rma_states_change(self) -> None:
        """An RMA may become received here: no order of the transaction is known without one."""
        quiet = known_quiet(self.connection)
        if quiet is not None:
            quiet.without_received_rmas.clear()

    async def create(
        self,
        *,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        request_id: str,
        correlation_id: str,
        reason: str,
        lines: Sequence[tuple[str, int]],
        authorised_at: datetime,
        return_by: date,
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.rmas (rma_id, order_id, return_request_id, correlation_id,
                state, reason, authorised_at, return_by, updated_at)
            VALUES ($1, $2, $3, $4, 'authorised', $5, $6, $7, $6)
            """,
            rma_id,
            order_id,
            request_id,
            correlation_id,
            reason,
            authorised_at,
            return_by,
        )
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.rma_lines (rma_id, sku, authorised_quantity)
            SELECT $1, l.sku, l.quantity FROM unnest($2::text[], $3::int[]) AS l(sku, quantity)
            """,
            rma_id,
            [sku for sku, _ in lines],
            [quantity for _, quantity in lines],
        )

    async def get(self, rma_id: uuid.UUID, *, for_update: bool = False) -> Rma | None:
        row = await self.connection.fetchrow(
            f"""
            SELECT rma_id, order_id, return_request_id, correlation_id, state, return_by,
                   current_refund_id, refund_attempts
            FROM {self.s}.rmas WHERE rma_id = $1 {"FOR UPDATE" if for_update else ""}
            """,
            rma_id,
        )
        if row is None:
            return None
        return Rma(**{**dict(row), "state": RmaState(row["state"])})

    async def in_state(self, order_id: uuid.UUID, state: RmaState) -> list[uuid.UUID]:
        if state is RmaState.RECEIVED:
            quiet = await quiet_orders(self.connection, self.s)
            if quiet is not None and order_id in quiet.without_received_rmas:
                return []
        rows = await self.connection.fetch(
            f"""
            SELECT rma_id FROM {self.s}.rmas WHERE order_id = $1 AND state = $2
            ORDER BY received_at, rma_id
            """,
            order_id,
            state.value,
        )
        return [row["rma_id"] for row in rows]

    async def authorised_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        rows = await self.connection.fetch(
            f"SELECT sku, authorised_quantity FROM {self.s}.rma_lines WHERE rma_id = $1",
            rma_id,
        )
        return {r["sku"]: r["authorised_quantity"] for r in rows}

    async def returned_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        rows = await self.connection.fetch(
            f"""
            SELECT sku, returned_quantity FROM {self.s}.rma_lines
            WHERE rma_id = $1 AND returned_quantity > 0 ORDER BY sku
            """,
            rma_id,
        )
        return {r["sku"]: r["returned_quantity"] for r in rows}

    async def record_parcel(
        self,
        rma_id: uuid.UUID,
        *,
        warehouse_id: str,
        received_at: datetime,
        received: dict[str, int],
        damaged: dict[str, int],
        authorised: dict[str, int],
    ) -> None:
        self._rma_states_change()
        for sku in sorted(set(received) | set(authorised)):
            got, allowed = received.get(sku, 0), authorised.get(sku, 0)
            await self.connection.execute(
                f"""
                INSERT INTO {self.s}.rma_lines (rma_id, sku, authorised_quantity,
                    received_quantity, damaged_quantity, returned_quantity)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (rma_id, sku) DO UPDATE SET
                    received_quantity = EXCLUDED.received_quantity,
                    damaged_quantity = EXCLUDED.damaged_quantity,
                    returned_quantity = EXCLUDED.returned_quantity
                """,
                rma_id,
                sku,
                allowed,
                got,
                damaged.get(sku, 0),
                min(got, allowed),
            )
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET state = 'received', received_at = $2, warehouse_id = $3,
                updated_at = now()
            WHERE rma_id = $1
            """,
            rma_id,
            received_at,
            warehouse_id,
        )

    async def set_state(
        self,
        rma_id: uuid.UUID,
        state: RmaState,
        *,
        at: datetime,
        problem: tuple[str, str] | None = None,
    ) -> None:
        self._rma_states_change()
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET state = $2, updated_at = now(),
                problem_code = $3, problem_message = $4,
                closed_at = CASE WHEN $2 = 'closed' THEN $5 ELSE closed_at END
            WHERE rma_id = $1
            """,
            rma_id,
            state.value,
            problem[0] if problem else None,
            problem[1] if problem else None,
            at,
        )

    async def record_pricing(
        self,
        rma_id: uuid.UUID,
        *,
        currency: Currency,
        line_amounts: dict[str, Money],
        amount: Money,
        shipping_refund: Money,
    ) -> None:
        for sku, money in line_amounts.items():
            await self.connection.execute(
                f"UPDATE {self.s}.rma_lines SET refund_amount = $3 WHERE rma_id = $1 AND sku = $2",
                rma_id,
                sku,
                money.amount,
            )
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET currency = $2, refund_amount = $3, shipping_refund = $4
            WHERE rma_id = $1
            """,
            rma_id,
            currency.value,
            amount.amount,
            shipping_refund.amount,
        )

    async def priced_refund(self, rma_id: uuid.UUID) -> PricedRefund | None:
        row = await self.connection.fetchrow(
            f"SELECT currency, refund_amount, shipping_refund FROM {self.s}.rmas WHERE rma_id = $1",
            rma_id,
        )
        if row is None or row["refund_amount"] is None:
            return None
        currency = Currency.of(row["currency"])
        lines = await self.connection.fetch(
            f"""
            SELECT sku, refund_amount FROM {self.s}.rma_lines
            WHERE rma_id = $1 AND returned_quantity > 0 ORDER BY sku
            """,
            rma_id,
        )
        return PricedRefund(
            Money.of(row["refund_amount"], currency),
            Money.of(row["shipping_refund"], currency),
            {r["sku"]: Money.of(r["refund_amount"], currency) for r in lines},
        )

    async def refund_requested(
        self, rma_id: uuid.UUID, *, refund_id: uuid.UUID, attempt: int
    ) -> None:
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET state = 'refund_requested', current_refund_id = $2,
                refund_attempts = $3, problem_code = NULL, problem_message = NULL,
                updated_at = now()
            WHERE rma_id = $1
            """,
            rma_id,
            refund_id,
            attempt,
        )

    async def earlier_returns(self, order_id: uuid.UUID) -> list[EarlierReturn]:
        # An RMA always has its answer; the fallback only keeps its units counted if not.
        rows = await self.connection.fetch(
            f"""
            SELECT l.sku,
                   CASE WHEN r.state = 'authorised' THEN l.authorised_quantity
                        ELSE COALESCE(l.returned_quantity, 0) END AS units,
                   COALESCE(q.requested_at, r.authorised_at) AS requested_at,
                   CASE WHEN r.state = 'authorised' THEN r.return_by END AS parcel_due_by
            FROM {self.s}.rmas r JOIN {self.s}.rma_lines l USING (rma_id)
                LEFT JOIN {self.s}.return_requests q
                    ON q.order_id = r.order_id AND q.rma_id = r.rma_id
            WHERE r.order_id = $1
            ORDER BY requested_at, r.rma_id, l.sku
            """,
            order_id,
        )
        return [
            EarlierReturn(row["sku"], row["units"], row["requested_at"], row["parcel_due_by"])
            for row in rows
            if row["units"]
        ]

    async def previously_refunded_units(
        self, order_id: uuid.UUID, excluding: uuid.UUID
    ) -> tuple[dict[str, int], bool]:
        rows = await self.connection.fetch(
            f"""
            SELECT l.sku, SUM(l.returned_quantity)::int AS units
            FROM {self.s}.rmas r JOIN {self.s}.rma_lines l USING (rma_id)
            WHERE r.order_id = $1 AND r.rma_id <> $2 AND l.refund_amount IS NOT NULL
            GROUP BY l.sku
            """,
            order_id,
            excluding,
        )
        shipping = await self.connection.fetchval(
            f"""
            SELECT EXISTS (SELECT 1 FROM {self.s}.rmas
                           WHERE order_id = $1 AND rma_id <> $2 AND shipping_refund > 0)
            """,
            order_id,
            excluding,
        )
        return {r["sku"]: r["units"] for r in rows if r["units"]}, bool(shipping)

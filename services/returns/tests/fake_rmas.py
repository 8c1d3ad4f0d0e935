"""In-memory RMAs: the fake ``rmas`` repository, which also answers ops' reports."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from orderflow_contracts.money import Currency, Money
from orderflow_returns.domain.returns import EarlierReturn
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.ports import PricedRefund, Rma, RmaQuery

from services.returns.tests.fake_tables import InMemory, StoredRma, StoredRmaLine


class InMemoryRmas(InMemory):
    """RMAs, and what ops read about them (the ``rmas`` and ``reports`` repositories)."""

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
        assert rma_id not in self.tables.rmas, "primary key (rma_id) violated"
        self.tables.rmas[rma_id] = StoredRma(
            rma_id,
            order_id,
            request_id,
            correlation_id,
            RmaState.AUTHORISED,
            reason,
            authorised_at,
            return_by,
            self.tables.next_change(),
            authorised_at,
            {sku: StoredRmaLine(quantity) for sku, quantity in lines},
        )

    async def get(self, rma_id: uuid.UUID, *, for_update: bool = False) -> Rma | None:
        row = self.tables.rmas.get(rma_id)
        if row is None:
            return None
        return Rma(
            row.rma_id,
            row.order_id,
            row.return_request_id,
            row.correlation_id,
            row.state,
            row.return_by,
            row.current_refund_id,
            row.refund_attempts,
        )

    async def in_state(self, order_id: uuid.UUID, state: RmaState) -> list[uuid.UUID]:
        rows = [r for r in self.tables.rmas.values() if r.order_id == order_id and r.state == state]
        never = datetime.max.replace(tzinfo=UTC)  # SQL sorts NULLs last
        rows.sort(key=lambda r: (r.received_at or never, r.rma_id))
        return [r.rma_id for r in rows]

    async def authorised_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        return {sku: line.authorised for sku, line in self.tables.rmas[rma_id].lines.items()}

    async def returned_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        lines = self.tables.rmas[rma_id].lines
        return {sku: line.returned for sku, line in sorted(lines.items()) if line.returned}

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
        row = self.tables.rmas[rma_id]
        for sku in sorted(set(received) | set(authorised)):
            got, allowed = received.get(sku, 0), authorised.get(sku, 0)
            line = row.lines.setdefault(sku, StoredRmaLine(allowed))
            line.received, line.damaged, line.returned = got, damaged.get(sku, 0), min(got, allowed)
        row.state, row.received_at, row.warehouse_id = RmaState.RECEIVED, received_at, warehouse_id
        self._changed(row)

    async def set_state(
        self,
        rma_id: uuid.UUID,
        state: RmaState,
        *,
        at: datetime,
        problem: tuple[str, str] | None = None,
    ) -> None:
        row = self.tables.rmas[rma_id]
        row.state = state
        row.problem_code, row.problem_message = problem if problem else (None, None)
        if state == RmaState.CLOSED:
            row.closed_at = at
        self._changed(row)

    async def record_pricing(
        self,
        rma_id: uuid.UUID,
        *,
        currency: Currency,
        line_amounts: dict[str, Money],
        amount: Money,
        shipping_refund: Money,
    ) -> None:
        row = self.tables.rmas[rma_id]
        for sku, money in line_amounts.items():
            if sku in row.lines:
                row.lines[sku].refund_amount = money.amount
        row.currency, row.refund_amount = currency, amount.amount
        row.shipping_refund = shipping_refund.amount

    async def priced_refund(self, rma_id: uuid.UUID) -> PricedRefund | None:
        row = self.tables.rmas.get(rma_id)
        if row is None or row.refund_amount is None or row.currency is None:
            return None
        currency = row.currency
        return PricedRefund(
            Money.of(row.refund_amount, currency),
            Money.of(row.shipping_refund or 0, currency),
            {
                sku: Money.of(line.refund_amount, currency)
                for sku, line in sorted(row.lines.items())
                if line.returned and line.refund_amount is not None
            },
        )

    async def refund_requested(
        self, rma_id: uuid.UUID, *, refund_id: uuid.UUID, attempt: int
    ) -> None:
        row = self.tables.rmas[rma_id]
        row.state, row.current_refund_id, row.refund_attempts = (
            RmaState.REFUND_REQUESTED,
            refund_id,
            attempt,
        )
        row.problem_code = row.problem_message = None
        self._changed(row)

    async def earlier_returns(self, order_id: uuid.UUID) -> list[EarlierReturn]:
        asked = {a.rma_id: a.requested_at for a in self.tables.return_requests.values()}
        found: list[tuple[datetime, uuid.UUID, EarlierReturn]] = []
        for row in self.tables.rmas.values():
            if row.order_id != order_id:
                continue
            awaited = row.state == RmaState.AUTHORISED
            requested_at = asked.get(row.rma_id, row.authorised_at)
            for sku, line in sorted(row.lines.items()):
                units = (line.authorised if awaited else line.returned) or 0
                if units:
                    due_by = row.return_by if awaited else None
                    found.append(
                        (requested_at, row.rma_id, EarlierReturn(sku, units, requested_at, due_by))
                    )
        return [earlier for *_, earlier in sorted(found, key=lambda f: (f[0], f[1]))]

    async def previously_refunded_units(
        self, order_id: uuid.UUID, excluding: uuid.UUID
    ) -> tuple[dict[str, int], bool]:
        others = [
            r for r in self.tables.rmas.values() if r.order_id == order_id and r.rma_id != excluding
        ]
        units: dict[str, int] = {}
        for row in others:
            for sku, line in row.lines.items():
                if line.refund_amount is not None:
                    units[sku] = units.get(sku, 0) + (line.returned or 0)
        shipping = any((r.shipping_refund or 0) > 0 for r in others)
        return {sku: count for sku, count in units.items() if count}, shipping

    async def rmas(self, query: RmaQuery) -> list[dict[str, Any]]:
        rows = [
            row
            for row in self.tables.rmas.values()
            if (query.state is None or row.state == query.state)
            and (query.order_id is None or row.order_id == query.order_id)
            and (query.rma_id is None or row.rma_id == query.rma_id)
        ]
        rows.sort(key=lambda r: (-r.change, r.rma_id))
        return [_report(row) for row in rows[: query.limit]]

    def _changed(self, row: StoredRma) -> None:
        row.change, row.updated_at = self.tables.next_change(), datetime.now(UTC)


def _report(row: StoredRma) -> dict[str, Any]:
    """The row as the SQL report shapes it (ids, amounts and times as strings)."""

    def text(value: object) -> str | None:
        if value is None:
            return None
        return value.isoformat() if isinstance(value, datetime | date) else str(value)

    return {
        "rma_id": str(row.rma_id),
        "order_id": str(row.order_id),
        "return_request_id": row.return_request_id,
        "state": row.state.value,
        "reason": row.reason,
        "authorised_at": text(row.authorised_at),
        "return_by": text(row.return_by),
        "received_at": text(row.received_at),
        "warehouse_id": row.warehouse_id,
        "refund_id": text(row.current_refund_id),
        "refund_attempts": row.refund_attempts,
        "currency": row.currency.value if row.currency else None,
        "refund_amount": text(row.refund_amount),
        "shipping_refund": text(row.shipping_refund),
        "problem_code": row.problem_code,
        "problem_message": row.problem_message,
        "closed_at": text(row.closed_at),
        "updated_at": text(row.updated_at),
        "lines": [
            {
                "sku": sku,
                "authorised": line.authorised,
                "received": line.received,
                "damaged": line.damaged,
                "returned": line.returned,
                "refund_amount": text(line.refund_amount),
            }
            for sku, line in sorted(row.lines.items())
        ],
    }

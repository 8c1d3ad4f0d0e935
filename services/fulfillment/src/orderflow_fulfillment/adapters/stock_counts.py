"""Stock counts in PostgreSQL: a warehouse's count sets on_hand from its time on, movements
stamped after it are added (they are real and the count did not see them), and a dispatch
found to have happened before the last count has that count applied again (see
:mod:`orderflow_fulfillment.domain.stock`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orderflow_fulfillment.adapters.stock_movements import StockMovements
from orderflow_fulfillment.domain.allocation import Allocation
from orderflow_fulfillment.domain.stock import (
    CountOutcome,
    CountVerdict,
    reconcile_count,
    redated_dispatch_crosses_count,
)
from orderflow_fulfillment.ports import StockLevel


class StockCounts(StockMovements):
    """Counts, and the late dispatch reports that move a dispatch before one."""

    async def apply_count(
        self, warehouse_id: str, sku: str, counted: int, *, counted_at: datetime, reference: str
    ) -> CountOutcome:
        level = await self._lock(warehouse_id, sku)
        if level is None and not await self.stocked_skus([sku]):
            # A SKU no warehouse stocks (a typo, a product not loaded yet): counting it must
            # not create it. The caller records the anomaly.
            return CountOutcome(CountVerdict.UNKNOWN_SKU, 0)
        if level is None:
            await self._db.execute(
                f"""
                INSERT INTO {self._s}.stock (warehouse_id, sku, on_hand, counted_at)
                VALUES ($1, $2, $3, $4)
                """,
                warehouse_id,
                sku,
                counted,
                counted_at,
            )
            await self._record(
                warehouse_id, sku, "count", counted, counted, counted, reference, counted_at
            )
            return CountOutcome(CountVerdict.APPLIED, counted)
        outcome = reconcile_count(
            counted=counted,
            counted_at=counted_at,
            current_on_hand=level.on_hand,
            reserved=level.reserved,
            last_counted_at=level.stale_before,
            moved_since_count=await self._moved_since(warehouse_id, sku, counted_at),
            lowers_only_until=level.lowers_only_until,
        )
        if outcome.verdict is CountVerdict.STALE:
            return outcome
        await self._db.execute(
            f"""
            UPDATE {self._s}.stock SET on_hand = $3, counted_at = $4, unfound = $5,
                updated_at = now()
            WHERE warehouse_id = $1 AND sku = $2
            """,
            warehouse_id,
            sku,
            outcome.on_hand,
            counted_at,
            outcome.shortfall,
        )
        await self._record(
            warehouse_id,
            sku,
            "count",
            counted,
            outcome.on_hand - level.on_hand,
            outcome.on_hand - level.on_hand,
            reference,
            counted_at,
        )
        return outcome

    async def _moved_since(self, warehouse_id: str, sku: str, counted_at: datetime) -> int:
        """The signed sum of dispatches and restocks stamped after ``counted_at``."""
        moved = await self._db.fetchval(
            f"""
            SELECT coalesce(sum(physical_delta), 0) FROM {self._s}.stock_movements
            WHERE warehouse_id = $1 AND sku = $2 AND occurred_at > $3
              AND kind IN ('dispatch', 'restock')
            """,
            warehouse_id,
            sku,
            counted_at,
        )
        return int(moved)

    async def redate_dispatch(
        self, allocations: Sequence[Allocation], *, dispatched_at: datetime, reference: str
    ) -> None:
        """A shipment whose delivery implied its dispatch reports the real dispatch time: its
        movements take it, and a row whose last count fell in between has that count applied
        again (see :func:`~orderflow_fulfillment.domain.stock.redated_dispatch_crosses_count`),
        unless an operator loaded the row since (their figure stands)."""
        for warehouse_id, sku in sorted({(a.warehouse_id, a.sku) for a in allocations}):
            level = await self._lock(warehouse_id, sku)
            implied_at = await self._db.fetchval(
                f"""
                SELECT max(occurred_at) FROM {self._s}.stock_movements
                WHERE warehouse_id = $1 AND sku = $2 AND kind = 'dispatch' AND reference = $3
                """,
                warehouse_id,
                sku,
                reference,
            )
            if level is None or implied_at is None or implied_at == dispatched_at:
                continue
            missed = redated_dispatch_crosses_count(
                dispatched_at=dispatched_at,
                implied_at=implied_at,
                last_counted_at=level.counted_at,
            )
            # Only the time moves: on_hand_delta stays what the dispatch did to on_hand when
            # it was applied (the recount's row carries the correction).
            await self._db.execute(
                f"""
                UPDATE {self._s}.stock_movements SET occurred_at = $4
                WHERE warehouse_id = $1 AND sku = $2 AND kind = 'dispatch' AND reference = $3
                """,
                warehouse_id,
                sku,
                reference,
                dispatched_at,
            )
            if missed:
                await self._count_again(level, reference)

    async def _count_again(self, level: StockLevel, reference: str) -> None:
        last = await self._db.fetchrow(
            f"""
            SELECT kind, quantity FROM {self._s}.stock_movements
            WHERE warehouse_id = $1 AND sku = $2 AND kind IN ('count', 'load')
            ORDER BY id DESC LIMIT 1
            """,
            level.warehouse_id,
            level.sku,
        )
        if last is None or last["kind"] != "count" or level.counted_at is None:
            return
        outcome = reconcile_count(
            counted=last["quantity"],
            counted_at=level.counted_at,
            current_on_hand=level.on_hand,
            reserved=level.reserved,
            last_counted_at=None,
            moved_since_count=await self._moved_since(
                level.warehouse_id, level.sku, level.counted_at
            ),
            # Applied again, it is still a count that may predate the load: never above it.
            lowers_only_until=level.lowers_only_until,
        )
        if outcome.verdict is CountVerdict.STALE:
            return
        await self._db.execute(
            f"""
            UPDATE {self._s}.stock SET on_hand = $3, unfound = $4, updated_at = now()
            WHERE warehouse_id = $1 AND sku = $2
            """,
            level.warehouse_id,
            level.sku,
            outcome.on_hand,
            outcome.shortfall,
        )
        change = outcome.on_hand - level.on_hand
        await self._record(
            level.warehouse_id,
            level.sku,
            "count",
            last["quantity"],
            0,
            change,
            f"recount:{reference}",
            level.counted_at,
        )

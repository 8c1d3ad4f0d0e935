"""Stock per (warehouse, SKU) in PostgreSQL: warehouses and reservations here, movements in
:mod:`~orderflow_fulfillment.adapters.stock_movements`; together the only writers of stock.

Never oversell. A reservation is a conditional increment,

    UPDATE stock SET reserved = reserved + q
    WHERE warehouse_id = w AND sku = s AND on_hand - reserved >= q

whose row count says whether it took. Concurrent writers of the same row queue on its row
lock and PostgreSQL re-evaluates the condition on the row as the winner committed it, so two
transactions can never both take the last unit, whichever process or partition they come
from. Rows of one reservation are updated in (warehouse, SKU) order. The table's CHECK
(on_hand >= reserved >= 0) backs the rule up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orderflow_fulfillment.adapters.stock_counts import StockCounts
from orderflow_fulfillment.adapters.stock_movements import (
    forget_warehouses,
    keep_warehouses,
    read_warehouses,
)
from orderflow_fulfillment.domain.allocation import Allocation, Availability, Warehouse
from orderflow_fulfillment.domain.stock import released
from orderflow_fulfillment.ports import StockLevel


class StockRepository(StockCounts):
    """The :class:`~orderflow_fulfillment.ports.Stock` of one transaction: warehouses and
    reservations here, counts in :class:`StockCounts`, the other movements warehouses report
    and operators load in :class:`StockMovements` (its base)."""

    # ---------------------------------------------------------------------------- warehouses

    async def warehouses(self) -> list[Warehouse]:
        kept = read_warehouses(self._db)
        if kept is not None:
            return list(kept)
        rows = await self._db.fetch(
            f"SELECT warehouse_id, country, near_countries FROM {self._s}.warehouses"
        )
        found = [
            Warehouse(r["warehouse_id"], r["country"], frozenset(r["near_countries"])) for r in rows
        ]
        keep_warehouses(self._db, found)
        return list(found)

    async def warehouse_exists(self, warehouse_id: str) -> bool:
        return bool(
            await self._db.fetchval(
                f"SELECT true FROM {self._s}.warehouses WHERE warehouse_id = $1", warehouse_id
            )
        )

    # ------------------------------------------------------------------------- reservations

    async def availability(self, skus: Iterable[str]) -> Availability:
        rows = await self._db.fetch(
            f"""
            SELECT warehouse_id, sku, on_hand - reserved AS available
            FROM {self._s}.stock WHERE sku = ANY($1::text[])
            """,
            sorted(set(skus)),
        )
        kept = read_warehouses(self._db)
        if kept is not None and not {r["warehouse_id"] for r in rows} <= {
            w.warehouse_id for w in kept
        }:
            forget_warehouses(self._db)  # one loaded since they were read: read them again
        return {(r["warehouse_id"], r["sku"]): r["available"] for r in rows}

    async def try_reserve(self, allocations: Sequence[Allocation]) -> bool:
        """Reserve every allocation, or none if one no longer fits (never oversell).

        One statement: it reserves only when its snapshot shows room on every row, and each
        row's update checks its room again on the row's latest version. In the consumer the
        batch's ``lock_ahead`` holds the rows, so both checks agree. A caller that had not
        locked them may race another reservation: what the statement reserved is then given
        back (a second statement) and the caller plans again, as when a row had no room.
        """
        wanted: dict[tuple[str, str], int] = {}
        for a in allocations:
            wanted[(a.warehouse_id, a.sku)] = wanted.get((a.warehouse_id, a.sku), 0) + a.quantity
        rows = await self._db.fetch(
            f"""
            WITH wanted AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
                    AS w(warehouse_id, sku, quantity)
            ), fits AS (
                SELECT count(*) = $4 AS every_line
                FROM wanted w JOIN {self._s}.stock s USING (warehouse_id, sku)
                WHERE s.on_hand - s.reserved >= w.quantity
            ), reserved AS (
                UPDATE {self._s}.stock AS s
                SET reserved = s.reserved + w.quantity, updated_at = now()
                FROM wanted w, fits
                WHERE fits.every_line AND s.warehouse_id = w.warehouse_id AND s.sku = w.sku
                  AND s.on_hand - s.reserved >= w.quantity
                RETURNING s.warehouse_id, s.sku, w.quantity
            )
            SELECT f.every_line AS fits, r.warehouse_id, r.sku, r.quantity
            FROM fits AS f LEFT JOIN reserved AS r ON true
            """,
            [warehouse_id for warehouse_id, _ in wanted],
            [sku for _, sku in wanted],
            list(wanted.values()),
            len(wanted),
        )
        went_through = [
            Allocation(row["warehouse_id"], row["sku"], row["quantity"])
            for row in rows
            if row["sku"] is not None
        ]
        if rows[0]["fits"] and len(went_through) == len(wanted):
            return True
        # Less room than the snapshot showed on some row: give back what went through.
        for a in sorted(went_through, key=lambda a: (a.warehouse_id, a.sku)):
            await self._db.execute(
                f"""
                UPDATE {self._s}.stock SET reserved = reserved - $3, updated_at = now()
                WHERE warehouse_id = $1 AND sku = $2
                """,
                a.warehouse_id,
                a.sku,
                a.quantity,
            )
        return False

    async def release(self, allocations: Sequence[Allocation]) -> None:
        """Reserved units go back to stock; those the last count did not find (``unfound``)
        leave on_hand with their reservation, recorded as an ``unfound`` movement."""
        for a in sorted(allocations, key=lambda a: (a.warehouse_id, a.sku)):
            level = await self._lock(a.warehouse_id, a.sku)
            change = released(a.quantity, unfound=level.unfound if level is not None else 0)
            await self._db.execute(
                f"""
                UPDATE {self._s}.stock
                SET reserved = reserved - $3, on_hand = on_hand + $4, unfound = unfound - $5,
                    updated_at = now()
                WHERE warehouse_id = $1 AND sku = $2
                """,
                a.warehouse_id,
                a.sku,
                a.quantity,
                change.on_hand_delta,
                change.unfound_consumed,
            )
            if change.unfound_consumed:
                await self._db.execute(
                    f"""
                    INSERT INTO {self._s}.stock_movements (warehouse_id, sku, kind, quantity,
                        physical_delta, on_hand_delta, reference, occurred_at)
                    VALUES ($1, $2, 'unfound', $3, 0, $4, NULL, now())
                    """,
                    a.warehouse_id,
                    a.sku,
                    change.unfound_consumed,
                    change.on_hand_delta,
                )

    async def levels(
        self, *, sku: str | None = None, warehouse_id: str | None = None
    ) -> list[StockLevel]:
        rows = await self._db.fetch(
            f"""
            SELECT warehouse_id, sku, on_hand, reserved, counted_at, unfound, loaded_at
            FROM {self._s}.stock
            WHERE ($1::text IS NULL OR sku = $1) AND ($2::text IS NULL OR warehouse_id = $2)
            ORDER BY warehouse_id, sku
            """,
            sku,
            warehouse_id,
        )
        return [StockLevel(**dict(r)) for r in rows]

"""Stock per (warehouse, SKU) in PostgreSQL: the one place stock figures are written.

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
from datetime import datetime

from orderflow_chassis.database import Connection

from orderflow_fulfillment.domain.allocation import Allocation, Availability, Warehouse
from orderflow_fulfillment.domain.stock import (
    CountOutcome,
    CountVerdict,
    movement_changes_on_hand,
    reconcile_count,
)
from orderflow_fulfillment.domain.stock_file import WarehouseEntry
from orderflow_fulfillment.ports import StockLevel


class StockRepository:
    """The :class:`~orderflow_fulfillment.ports.Stock` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    # ---------------------------------------------------------------------------- warehouses

    async def warehouses(self) -> list[Warehouse]:
        rows = await self._db.fetch(
            f"SELECT warehouse_id, country, near_countries FROM {self._s}.warehouses"
        )
        return [
            Warehouse(r["warehouse_id"], r["country"], frozenset(r["near_countries"])) for r in rows
        ]

    async def stocked_skus(self, skus: Iterable[str]) -> set[str]:
        """Those of ``skus`` that some warehouse stocks (has a stock row for, even at zero)."""
        rows = await self._db.fetch(
            f"SELECT DISTINCT sku FROM {self._s}.stock WHERE sku = ANY($1::text[])",
            sorted(set(skus)),
        )
        return {r["sku"] for r in rows}

    async def warehouse_exists(self, warehouse_id: str) -> bool:
        return bool(
            await self._db.fetchval(
                f"SELECT true FROM {self._s}.warehouses WHERE warehouse_id = $1", warehouse_id
            )
        )

    async def upsert_warehouse(self, entry: WarehouseEntry) -> None:
        await self._db.execute(
            f"""
            INSERT INTO {self._s}.warehouses (warehouse_id, name, country, near_countries)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (warehouse_id) DO UPDATE
            SET name = EXCLUDED.name, country = EXCLUDED.country,
                near_countries = EXCLUDED.near_countries, updated_at = now()
            """,
            entry.id,
            entry.name,
            entry.country,
            sorted(set(entry.near)),
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
        await self.release(went_through)
        return False

    async def release(self, allocations: Sequence[Allocation]) -> None:
        for a in sorted(allocations, key=lambda a: (a.warehouse_id, a.sku)):
            await self._db.execute(
                f"""
                UPDATE {self._s}.stock SET reserved = reserved - $3, updated_at = now()
                WHERE warehouse_id = $1 AND sku = $2
                """,
                a.warehouse_id,
                a.sku,
                a.quantity,
            )

    # ---------------------------------------------------------------------------- movements

    async def _lock(self, warehouse_id: str, sku: str) -> StockLevel | None:
        row = await self._db.fetchrow(
            f"""
            SELECT warehouse_id, sku, on_hand, reserved, counted_at FROM {self._s}.stock
            WHERE warehouse_id = $1 AND sku = $2 FOR UPDATE
            """,
            warehouse_id,
            sku,
        )
        return StockLevel(**dict(row)) if row is not None else None

    async def _record(
        self,
        warehouse_id: str,
        sku: str,
        kind: str,
        quantity: int,
        physical_delta: int,
        on_hand_delta: int,
        reference: str | None,
        occurred_at: datetime,
    ) -> None:
        await self._db.execute(
            f"""
            INSERT INTO {self._s}.stock_movements (warehouse_id, sku, kind, quantity,
                physical_delta, on_hand_delta, reference, occurred_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            warehouse_id,
            sku,
            kind,
            quantity,
            physical_delta,
            on_hand_delta,
            reference,
            occurred_at,
        )

    async def dispatch(
        self, allocations: Sequence[Allocation], *, occurred_at: datetime, reference: str
    ) -> None:
        """Reserved units left the warehouse: reserved and (unless a later count already
        saw it) on_hand go down together, and each line's movement is recorded. Two round
        trips for a whole shipment: its rows read under lock, then one statement for the
        changes and the movements."""
        if not allocations:
            return
        rows = await self._db.fetch(
            f"""
            SELECT warehouse_id, sku, counted_at FROM {self._s}.stock
            WHERE (warehouse_id, sku) IN (
                SELECT * FROM unnest($1::text[], $2::text[]))
            ORDER BY warehouse_id, sku FOR UPDATE
            """,
            [a.warehouse_id for a in allocations],
            [a.sku for a in allocations],
        )
        counted = {(r["warehouse_id"], r["sku"]): r["counted_at"] for r in rows}
        for a in allocations:
            if (a.warehouse_id, a.sku) not in counted:
                raise LookupError(f"no stock row for {a.warehouse_id}/{a.sku}")
        deltas = [
            -a.quantity
            if movement_changes_on_hand(occurred_at, counted[(a.warehouse_id, a.sku)])
            else 0
            for a in allocations
        ]
        await self._db.execute(
            f"""
            WITH moved AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[])
                    WITH ORDINALITY AS m(warehouse_id, sku, quantity, on_hand_delta, position)
            ), changed AS (
                UPDATE {self._s}.stock AS s
                SET reserved = s.reserved - t.quantity, on_hand = s.on_hand + t.on_hand_delta,
                    updated_at = now()
                FROM (SELECT warehouse_id, sku, sum(quantity) AS quantity,
                             sum(on_hand_delta) AS on_hand_delta
                      FROM moved GROUP BY warehouse_id, sku) AS t
                WHERE s.warehouse_id = t.warehouse_id AND s.sku = t.sku
            )
            INSERT INTO {self._s}.stock_movements (warehouse_id, sku, kind, quantity,
                physical_delta, on_hand_delta, reference, occurred_at)
            SELECT warehouse_id, sku, 'dispatch', quantity, -quantity, on_hand_delta, $5, $6
            FROM moved ORDER BY position
            """,
            [a.warehouse_id for a in allocations],
            [a.sku for a in allocations],
            [a.quantity for a in allocations],
            deltas,
            reference,
            occurred_at,
        )

    async def restock(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None:
        level = await self._lock(warehouse_id, sku)
        counted_at = level.counted_at if level is not None else None
        delta = quantity if movement_changes_on_hand(occurred_at, counted_at) else 0
        await self._db.execute(
            f"""
            INSERT INTO {self._s}.stock (warehouse_id, sku, on_hand) VALUES ($1, $2, $3)
            ON CONFLICT (warehouse_id, sku) DO UPDATE
            SET on_hand = {self._s}.stock.on_hand + EXCLUDED.on_hand, updated_at = now()
            """,
            warehouse_id,
            sku,
            delta,
        )
        await self._record(
            warehouse_id, sku, "restock", quantity, quantity, delta, reference, occurred_at
        )

    async def write_off(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None:
        """Damaged returned units: never on the shelf, recorded for accounting."""
        await self._record(warehouse_id, sku, "write_off", quantity, 0, 0, reference, occurred_at)

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
        outcome = reconcile_count(
            counted=counted,
            counted_at=counted_at,
            current_on_hand=level.on_hand,
            reserved=level.reserved,
            last_counted_at=level.counted_at,
            moved_since_count=int(moved),
        )
        if outcome.verdict is CountVerdict.STALE:
            return outcome
        await self._db.execute(
            f"""
            UPDATE {self._s}.stock SET on_hand = $3, counted_at = $4, updated_at = now()
            WHERE warehouse_id = $1 AND sku = $2
            """,
            warehouse_id,
            sku,
            outcome.on_hand,
            counted_at,
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

    # -------------------------------------------------------------------------- admin loads

    async def load(
        self, entry: WarehouseEntry, *, only_missing: bool, at: datetime, reference: str
    ) -> dict[str, int]:
        """Upsert the warehouse and its figures; returns what was set per SKU.

        ``only_missing`` (the start-up seed) inserts SKUs the warehouse does not have yet and
        never touches an existing figure. Otherwise on_hand is set to the file's figure, but
        never below what is reserved (that would oversell promised units).
        """
        if only_missing:
            await self._db.execute(
                f"""
                INSERT INTO {self._s}.warehouses (warehouse_id, name, country, near_countries)
                VALUES ($1, $2, $3, $4) ON CONFLICT (warehouse_id) DO NOTHING
                """,
                entry.id,
                entry.name,
                entry.country,
                sorted(set(entry.near)),
            )
        else:
            await self.upsert_warehouse(entry)
        applied: dict[str, int] = {}
        for sku, on_hand in sorted(entry.stock.items()):
            level = await self._lock(entry.id, sku)
            if level is None:
                inserted = await self._db.fetchval(
                    f"""
                    INSERT INTO {self._s}.stock (warehouse_id, sku, on_hand) VALUES ($1, $2, $3)
                    ON CONFLICT DO NOTHING RETURNING on_hand
                    """,
                    entry.id,
                    sku,
                    on_hand,
                )
                if inserted is None:
                    continue  # another loader won the race: its figure stands
                delta = on_hand
            elif only_missing:
                continue
            else:
                target = max(on_hand, level.reserved)
                delta = target - level.on_hand
                await self._db.execute(
                    f"""
                    UPDATE {self._s}.stock SET on_hand = $3, updated_at = now()
                    WHERE warehouse_id = $1 AND sku = $2
                    """,
                    entry.id,
                    sku,
                    target,
                )
                on_hand = target
            await self._record(entry.id, sku, "load", on_hand, delta, delta, reference, at)
            applied[sku] = on_hand
        return applied

    async def levels(
        self, *, sku: str | None = None, warehouse_id: str | None = None
    ) -> list[StockLevel]:
        rows = await self._db.fetch(
            f"""
            SELECT warehouse_id, sku, on_hand, reserved, counted_at FROM {self._s}.stock
            WHERE ($1::text IS NULL OR sku = $1) AND ($2::text IS NULL OR warehouse_id = $2)
            ORDER BY warehouse_id, sku
            """,
            sku,
            warehouse_id,
        )
        return [StockLevel(**dict(r)) for r in rows]

"""Stock movements in PostgreSQL: what a warehouse reports (dispatches, returned units; counts
in :mod:`~orderflow_fulfillment.adapters.stock_counts`) and what an operator loads, each kept
in ``stock_movements`` with the warehouse time it happened. A count sets on_hand from that time
on; movements stamped before the last count are already in it (see
:mod:`orderflow_fulfillment.domain.stock`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from orderflow_chassis.database import Connection, TransactionLocal

from orderflow_fulfillment.domain.allocation import Allocation, Warehouse
from orderflow_fulfillment.domain.stock import (
    dispatched,
    movement_changes_on_hand,
)
from orderflow_fulfillment.domain.stock_file import WarehouseEntry
from orderflow_fulfillment.ports import StockLevel

# The warehouses, as this transaction first read them (``StockRepository.warehouses``): every
# reservation of a batch plans over them, and they change only with a stock load. A write of
# them here drops the copy, and so do availability figures naming a warehouse it lacks (one
# another transaction loaded since): the next reservation reads them again.
_WAREHOUSES: TransactionLocal[list[Warehouse] | None] = TransactionLocal("warehouses_read")


def read_warehouses(connection: Connection) -> list[Warehouse] | None:
    return _WAREHOUSES.get(connection)


def keep_warehouses(connection: Connection, warehouses: list[Warehouse]) -> None:
    _WAREHOUSES.set(connection, warehouses)


def forget_warehouses(connection: Connection) -> None:
    _WAREHOUSES.set(connection, None)


class StockMovements:
    """The movement half of :class:`~orderflow_fulfillment.adapters.stock.StockRepository`."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    async def stocked_skus(self, skus: Iterable[str]) -> set[str]:
        """Those of ``skus`` that some warehouse stocks (has a stock row for, even at zero)."""
        rows = await self._db.fetch(
            f"SELECT DISTINCT sku FROM {self._s}.stock WHERE sku = ANY($1::text[])",
            sorted(set(skus)),
        )
        return {r["sku"] for r in rows}

    async def upsert_warehouse(self, entry: WarehouseEntry) -> None:
        forget_warehouses(self._db)
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

    # ---------------------------------------------------------------------------- movements

    async def _lock(self, warehouse_id: str, sku: str) -> StockLevel | None:
        row = await self._db.fetchrow(
            f"""
            SELECT warehouse_id, sku, on_hand, reserved, counted_at, unfound, loaded_at
            FROM {self._s}.stock WHERE warehouse_id = $1 AND sku = $2 FOR UPDATE
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
        saw it, see :func:`~orderflow_fulfillment.domain.stock.dispatched`) on_hand go down
        together, and each line's movement is recorded. Two round trips for a whole shipment:
        its rows read under lock, then one statement for the changes and the movements."""
        if not allocations:
            return
        rows = await self._db.fetch(
            f"""
            SELECT warehouse_id, sku, counted_at, reserved, unfound FROM {self._s}.stock
            WHERE (warehouse_id, sku) IN (
                SELECT * FROM unnest($1::text[], $2::text[]))
            ORDER BY warehouse_id, sku FOR UPDATE
            """,
            [a.warehouse_id for a in allocations],
            [a.sku for a in allocations],
        )
        counted = {(r["warehouse_id"], r["sku"]): r["counted_at"] for r in rows}
        reserved = {(r["warehouse_id"], r["sku"]): r["reserved"] for r in rows}
        unfound = {(r["warehouse_id"], r["sku"]): r["unfound"] for r in rows}
        for a in allocations:
            if (a.warehouse_id, a.sku) not in counted:
                raise LookupError(f"no stock row for {a.warehouse_id}/{a.sku}")
        deltas, consumed = [], []
        for a in allocations:
            key = (a.warehouse_id, a.sku)
            change = dispatched(
                a.quantity,
                occurred_at=occurred_at,
                last_counted_at=counted[key],
                reserved=reserved[key],
                unfound=unfound[key],
            )
            reserved[key] -= a.quantity
            unfound[key] -= change.unfound_consumed
            deltas.append(change.on_hand_delta)
            consumed.append(change.unfound_consumed)
        await self._db.execute(
            f"""
            WITH moved AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $7::int[])
                    WITH ORDINALITY
                    AS m(warehouse_id, sku, quantity, on_hand_delta, unfound_consumed, position)
            ), changed AS (
                UPDATE {self._s}.stock AS s
                SET reserved = s.reserved - t.quantity, on_hand = s.on_hand + t.on_hand_delta,
                    unfound = s.unfound - t.unfound_consumed, updated_at = now()
                FROM (SELECT warehouse_id, sku, sum(quantity) AS quantity,
                             sum(on_hand_delta) AS on_hand_delta,
                             sum(unfound_consumed) AS unfound_consumed
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
            consumed,
        )

    async def restock(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None:
        level = await self._lock(warehouse_id, sku)
        # Against a load too, unlike a dispatch: the operator's figure holds returned units
        # already on the shelf, and adding them again would offer units that are not there.
        seen_since = level.restock_seen_before if level is not None else None
        delta = quantity if movement_changes_on_hand(occurred_at, seen_since) else 0
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

    # -------------------------------------------------------------------------- admin loads

    async def load(
        self, entry: WarehouseEntry, *, only_missing: bool, at: datetime, reference: str
    ) -> dict[str, int]:
        """Upsert the warehouse and its figures; returns what was set per SKU.

        ``only_missing`` (the start-up seed) inserts SKUs the warehouse does not have yet and
        never touches an existing figure. Otherwise on_hand is set to the file's figure, but
        never below what is reserved (that would oversell promised units), and a count or a
        restock stamped at or before ``at`` is already in the figure of a row it set.
        """
        if only_missing:
            forget_warehouses(self._db)
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
                # The operator's figure stands against a count or a restock the warehouse
                # stamped before it (read late). Not against a dispatch: taking units off again
                # errs the safe way, on the warehouse's clock. (A new row's first figure takes
                # no date: the warehouse's own count, dead-lettered until the row's warehouse
                # was loaded and then replayed, must apply.)
                await self._db.execute(
                    f"""
                    UPDATE {self._s}.stock SET on_hand = $3, unfound = $4, loaded_at = $5,
                        updated_at = now()
                    WHERE warehouse_id = $1 AND sku = $2
                    """,
                    entry.id,
                    sku,
                    target,
                    target - on_hand,  # held for reservations the file's figure leaves out
                    at,
                )
                on_hand = target
            await self._record(entry.id, sku, "load", on_hand, delta, delta, reference, at)
            applied[sku] = on_hand
        return applied

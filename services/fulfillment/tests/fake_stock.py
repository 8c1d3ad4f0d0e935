"""In-memory stock, with the rules the database enforces for the SQL one: a row is never
oversold (the CHECK), a movement needs a known warehouse (the foreign key)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from orderflow_fulfillment.domain.allocation import Allocation, Availability, Warehouse
from orderflow_fulfillment.domain.stock import (
    CountOutcome,
    CountVerdict,
    dispatched,
    movement_changes_on_hand,
    reconcile_count,
    redated_dispatch_crosses_count,
    released,
)
from orderflow_fulfillment.domain.stock_file import WarehouseEntry
from orderflow_fulfillment.ports import StockLevel


@dataclass
class StockRow:
    on_hand: int
    reserved: int = 0
    counted_at: datetime | None = None
    unfound: int = 0
    loaded_at: datetime | None = None

    @property
    def stale_before(self) -> datetime | None:
        return max((d for d in (self.counted_at, self.loaded_at) if d is not None), default=None)


@dataclass(frozen=True)
class Movement:
    warehouse_id: str
    sku: str
    kind: str
    quantity: int
    physical_delta: int
    on_hand_delta: int
    reference: str | None
    occurred_at: datetime


@dataclass
class InMemoryStock:
    known_warehouses: dict[str, Warehouse] = field(default_factory=dict)
    rows: dict[tuple[str, str], StockRow] = field(default_factory=dict)
    movements: list[Movement] = field(default_factory=list)
    races_lost: int = 0
    """The next ``races_lost`` reservations find their stock taken by a concurrent one."""

    # ------------------------------------------------------------------ test set-up

    def add_warehouse(
        self,
        warehouse_id: str,
        country: str,
        stock: Mapping[str, int] = {},
        *,
        near: Iterable[str] = (),
    ) -> None:
        self.known_warehouses[warehouse_id] = Warehouse(warehouse_id, country, frozenset(near))
        for sku, on_hand in stock.items():
            self.rows[warehouse_id, sku] = StockRow(on_hand)

    def level(self, warehouse_id: str, sku: str) -> tuple[int, int]:
        """(on_hand, reserved)"""
        row = self.rows[warehouse_id, sku]
        return row.on_hand, row.reserved

    def unfound(self, warehouse_id: str, sku: str) -> int:
        return self.rows[warehouse_id, sku].unfound

    def movements_of(self, kind: str) -> list[Movement]:
        return [m for m in self.movements if m.kind == kind]

    # ------------------------------------------------------------------- the port

    async def warehouses(self) -> list[Warehouse]:
        return list(self.known_warehouses.values())

    async def warehouse_exists(self, warehouse_id: str) -> bool:
        return warehouse_id in self.known_warehouses

    async def stocked_skus(self, skus: Iterable[str]) -> set[str]:
        stocked = {sku for _, sku in self.rows}
        return set(skus) & stocked

    async def availability(self, skus: Iterable[str]) -> Availability:
        wanted = set(skus)
        return {
            (w, s): row.on_hand - row.reserved for (w, s), row in self.rows.items() if s in wanted
        }

    async def try_reserve(self, allocations: Sequence[Allocation]) -> bool:
        if self.races_lost > 0:
            self.races_lost -= 1
            return False
        for a in allocations:
            row = self.rows.get((a.warehouse_id, a.sku))
            if row is None or row.on_hand - row.reserved < a.quantity:
                return False
        for a in allocations:
            self._change(a.warehouse_id, a.sku, reserved=a.quantity)
        return True

    async def release(self, allocations: Sequence[Allocation]) -> None:
        for a in allocations:
            row = self.rows[a.warehouse_id, a.sku]
            change = released(a.quantity, unfound=row.unfound)
            row.unfound -= change.unfound_consumed
            self._change(a.warehouse_id, a.sku, reserved=-a.quantity, on_hand=change.on_hand_delta)
            if change.unfound_consumed:
                self._record(
                    a.warehouse_id,
                    a.sku,
                    "unfound",
                    change.unfound_consumed,
                    0,
                    change.on_hand_delta,
                    None,
                    datetime.now(UTC),
                )

    async def dispatch(
        self, allocations: Sequence[Allocation], *, occurred_at: datetime, reference: str
    ) -> None:
        for allocation in allocations:
            if (allocation.warehouse_id, allocation.sku) not in self.rows:
                raise LookupError(f"no stock row for {allocation.warehouse_id}/{allocation.sku}")
        for allocation in allocations:
            row = self.rows[(allocation.warehouse_id, allocation.sku)]
            quantity = allocation.quantity
            change = dispatched(
                quantity,
                occurred_at=occurred_at,
                last_counted_at=row.counted_at,
                reserved=row.reserved,
                unfound=row.unfound,
            )
            row.unfound -= change.unfound_consumed
            delta = change.on_hand_delta
            self._change(allocation.warehouse_id, allocation.sku, reserved=-quantity, on_hand=delta)
            self._record(
                allocation.warehouse_id,
                allocation.sku,
                "dispatch",
                quantity,
                -quantity,
                delta,
                reference,
                occurred_at,
            )

    async def redate_dispatch(
        self, allocations: Sequence[Allocation], *, dispatched_at: datetime, reference: str
    ) -> None:
        for key in sorted({(a.warehouse_id, a.sku) for a in allocations}):
            row = self.rows.get(key)
            mine = [
                i
                for i, m in enumerate(self.movements)
                if (m.warehouse_id, m.sku, m.kind, m.reference) == (*key, "dispatch", reference)
            ]
            if row is None or not mine:
                continue
            implied_at = max(self.movements[i].occurred_at for i in mine)
            if implied_at == dispatched_at:
                continue
            missed = redated_dispatch_crosses_count(
                dispatched_at=dispatched_at, implied_at=implied_at, last_counted_at=row.counted_at
            )
            for i in mine:
                self.movements[i] = replace(self.movements[i], occurred_at=dispatched_at)
            if missed:
                self._count_again(*key, row, reference)

    def _count_again(self, warehouse_id: str, sku: str, row: StockRow, reference: str) -> None:
        figures = [
            m
            for m in self.movements
            if (m.warehouse_id, m.sku) == (warehouse_id, sku) and m.kind in ("count", "load")
        ]
        if not figures or figures[-1].kind != "count" or row.counted_at is None:
            return
        outcome = reconcile_count(
            counted=figures[-1].quantity,
            counted_at=row.counted_at,
            current_on_hand=row.on_hand,
            reserved=row.reserved,
            last_counted_at=None,
            moved_since_count=self._moved_since(warehouse_id, sku, row.counted_at),
            lowers_only_until=self._level(warehouse_id, sku, row).lowers_only_until,
        )
        if outcome.verdict is CountVerdict.STALE:
            return
        change = outcome.on_hand - row.on_hand
        row.unfound = outcome.shortfall
        self._change(warehouse_id, sku, on_hand=change)
        self._record(
            warehouse_id,
            sku,
            "count",
            figures[-1].quantity,
            0,
            change,
            f"recount:{reference}",
            row.counted_at,
        )

    def _moved_since(self, warehouse_id: str, sku: str, counted_at: datetime) -> int:
        return sum(
            m.physical_delta
            for m in self.movements
            if (m.warehouse_id, m.sku) == (warehouse_id, sku)
            and m.occurred_at > counted_at
            and m.kind in ("dispatch", "restock")
        )

    @staticmethod
    def _level(warehouse_id: str, sku: str, row: StockRow) -> StockLevel:
        return StockLevel(
            warehouse_id, sku, row.on_hand, row.reserved, row.counted_at, loaded_at=row.loaded_at
        )

    async def restock(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None:
        self._require_warehouse(warehouse_id)
        row = self.rows.setdefault((warehouse_id, sku), StockRow(0))
        seen_before = self._level(warehouse_id, sku, row).restock_seen_before
        delta = quantity if movement_changes_on_hand(occurred_at, seen_before) else 0
        self._change(warehouse_id, sku, on_hand=delta)
        self._record(
            warehouse_id, sku, "restock", quantity, quantity, delta, reference, occurred_at
        )

    async def write_off(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None:
        self._record(warehouse_id, sku, "write_off", quantity, 0, 0, reference, occurred_at)

    async def apply_count(
        self, warehouse_id: str, sku: str, counted: int, *, counted_at: datetime, reference: str
    ) -> CountOutcome:
        row = self.rows.get((warehouse_id, sku))
        if row is None and not await self.stocked_skus([sku]):
            return CountOutcome(CountVerdict.UNKNOWN_SKU, 0)
        if row is None:
            self._require_warehouse(warehouse_id)
            self.rows[warehouse_id, sku] = StockRow(counted, 0, counted_at)
            self._record(
                warehouse_id, sku, "count", counted, counted, counted, reference, counted_at
            )
            return CountOutcome(CountVerdict.APPLIED, counted)
        moved = self._moved_since(warehouse_id, sku, counted_at)
        outcome = reconcile_count(
            counted=counted,
            counted_at=counted_at,
            current_on_hand=row.on_hand,
            reserved=row.reserved,
            last_counted_at=row.stale_before,
            moved_since_count=moved,
            lowers_only_until=self._level(warehouse_id, sku, row).lowers_only_until,
        )
        if outcome.verdict is CountVerdict.STALE:
            return outcome
        change = outcome.on_hand - row.on_hand
        row.counted_at, row.unfound = counted_at, outcome.shortfall
        self._change(warehouse_id, sku, on_hand=change)  # checks unfound too
        self._record(warehouse_id, sku, "count", counted, change, change, reference, counted_at)
        return outcome

    async def load(
        self, entry: WarehouseEntry, *, only_missing: bool, at: datetime, reference: str
    ) -> dict[str, int]:
        if not only_missing or entry.id not in self.known_warehouses:
            self.known_warehouses[entry.id] = Warehouse(
                entry.id, entry.country, frozenset(entry.near)
            )
        applied: dict[str, int] = {}
        for sku, on_hand in sorted(entry.stock.items()):
            row = self.rows.get((entry.id, sku))
            if row is None:
                self.rows[entry.id, sku] = StockRow(on_hand)
                delta = on_hand
            elif only_missing:
                continue
            else:
                target = max(on_hand, row.reserved)
                delta = target - row.on_hand
                self._change(entry.id, sku, on_hand=delta)
                row.unfound, on_hand = target - on_hand, target
                row.loaded_at = at
            self._record(entry.id, sku, "load", on_hand, delta, delta, reference, at)
            applied[sku] = on_hand
        return applied

    async def levels(
        self, *, sku: str | None = None, warehouse_id: str | None = None
    ) -> list[StockLevel]:
        return [
            StockLevel(w, s, row.on_hand, row.reserved, row.counted_at, row.unfound, row.loaded_at)
            for (w, s), row in sorted(self.rows.items())
            if (sku is None or s == sku) and (warehouse_id is None or w == warehouse_id)
        ]

    # ------------------------------------------------------------------- internals

    def _change(self, warehouse_id: str, sku: str, *, on_hand: int = 0, reserved: int = 0) -> None:
        row = self.rows[warehouse_id, sku]
        new_on_hand, new_reserved = row.on_hand + on_hand, row.reserved + reserved
        if not new_on_hand >= new_reserved >= 0:  # the table's CHECK
            raise ValueError(
                f"stock_never_oversold violated for {warehouse_id}/{sku}: "
                f"on_hand {new_on_hand}, reserved {new_reserved}"
            )
        if not 0 <= row.unfound <= new_reserved:  # stock_unfound_reserved
            raise ValueError(f"stock_unfound_reserved violated for {warehouse_id}/{sku}")
        row.on_hand, row.reserved = new_on_hand, new_reserved

    def _require_warehouse(self, warehouse_id: str) -> None:
        if warehouse_id not in self.known_warehouses:  # the foreign key
            raise LookupError(f"no warehouse {warehouse_id}")

    def _record(
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
        self.movements.append(
            Movement(
                warehouse_id,
                sku,
                kind,
                quantity,
                physical_delta,
                on_hand_delta,
                reference,
                occurred_at,
            )
        )

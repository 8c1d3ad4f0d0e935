"""Where an order ships from: one warehouse if one can, else the fewest shipments.

Rules, in order of precedence:

1. If some line cannot be covered by every warehouse together, nothing is allocated: the
   outcome is a :class:`Shortage` listing each short line (requested, available in total).
2. If one warehouse can ship the whole order, it does; among several, the nearest to the
   ship-to country (same country < a country it is near < anywhere else), then the lowest id.
3. Otherwise the order is split across the smallest number of warehouses that together cover
   it; among equally small sets, the nearest in total, then the lowest ids. Inside the chosen
   set a SKU comes from a single warehouse when one of the set can supply it all (nearest
   first), else it is taken from the nearest warehouses first.

Every chosen warehouse gets at least one line: a minimal set has no member the others could do
without. The search is exact for up to :data:`EXACT_SEARCH_LIMIT` candidate warehouses and
greedy (largest coverage first) beyond, which a store with that many warehouses would replace
with a proper solver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Final

EXACT_SEARCH_LIMIT: Final = 12

SAME_COUNTRY: Final = 0
NEAR: Final = 1
FAR: Final = 2


@dataclass(frozen=True)
class Warehouse:
    """A warehouse, where it is, and which countries it is near (ships to quickly)."""

    warehouse_id: str
    country: str
    near_countries: frozenset[str] = frozenset()

    def distance_to(self, country: str) -> int:
        """0 in its own country, 1 in a country it is near, 2 anywhere else."""
        if country == self.country:
            return SAME_COUNTRY
        if country in self.near_countries:
            return NEAR
        return FAR


@dataclass(frozen=True)
class Line:
    """Units of one SKU."""

    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"quantity of {self.sku} must be positive, got {self.quantity}")


@dataclass(frozen=True)
class ShipmentPlan:
    """What one warehouse ships."""

    warehouse_id: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Allocation:
    """Units of one SKU held in one warehouse."""

    warehouse_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class AllocationPlan:
    """Every line covered, by one shipment per chosen warehouse (nearest first)."""

    shipments: tuple[ShipmentPlan, ...]

    def allocations(self) -> list[Allocation]:
        return [
            Allocation(shipment.warehouse_id, line.sku, line.quantity)
            for shipment in self.shipments
            for line in shipment.lines
        ]


@dataclass(frozen=True)
class ShortLine:
    """A line that all warehouses together cannot cover."""

    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class Shortage:
    short_lines: tuple[ShortLine, ...]


Availability = Mapping[tuple[str, str], int]
"""Units available (on hand minus reserved) per (warehouse id, SKU)."""

_Covers = Callable[[Sequence[str]], bool]
_Rank = Callable[[str], tuple[int, str]]
_Available = Callable[[str, str], int]


def merge_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """One line per SKU (quantities added), in order of first appearance."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return tuple(Line(sku, quantity) for sku, quantity in totals.items())


def plan_allocation(
    lines: Iterable[Line],
    warehouses: Iterable[Warehouse],
    availability: Availability,
    ship_to_country: str,
) -> AllocationPlan | Shortage:
    """Decide which warehouses ship which units (see the module docstring)."""
    wanted = merge_lines(lines)
    if not wanted:
        raise ValueError("an order needs at least one line")
    known = {w.warehouse_id: w for w in warehouses}

    def available(warehouse_id: str, sku: str) -> int:
        return max(availability.get((warehouse_id, sku), 0), 0)

    short = tuple(
        ShortLine(line.sku, line.quantity, total)
        for line in wanted
        if (total := sum(available(w, line.sku) for w in known)) < line.quantity
    )
    if short:
        return Shortage(short)

    def rank(warehouse_id: str) -> tuple[int, str]:
        return known[warehouse_id].distance_to(ship_to_country), warehouse_id

    candidates = sorted(
        (w for w in known if any(available(w, line.sku) > 0 for line in wanted)), key=rank
    )

    def covers(chosen: Sequence[str]) -> bool:
        return all(sum(available(w, line.sku) for w in chosen) >= line.quantity for line in wanted)

    chosen = _smallest_covering_set(candidates, covers, rank) or _greedy_covering_set(
        candidates, wanted, available
    )
    return _assign(wanted, sorted(chosen, key=rank), available)


def _smallest_covering_set(
    candidates: Sequence[str],
    covers: _Covers,
    rank: _Rank,
) -> tuple[str, ...] | None:
    if len(candidates) > EXACT_SEARCH_LIMIT:
        return None
    for size in range(1, len(candidates) + 1):
        feasible = [subset for subset in combinations(candidates, size) if covers(subset)]
        if feasible:
            return min(
                feasible,
                key=lambda subset: (sum(rank(w)[0] for w in subset), sorted(subset)),
            )
    return None


def _greedy_covering_set(
    candidates: Sequence[str], wanted: Sequence[Line], available: _Available
) -> tuple[str, ...]:
    remaining = {line.sku: line.quantity for line in wanted}
    chosen: list[str] = []
    pool = list(candidates)  # already nearest first, so ties go to the nearest
    while any(remaining.values()):
        best = max(pool, key=lambda w: sum(min(available(w, s), q) for s, q in remaining.items()))
        pool.remove(best)
        chosen.append(best)
        for sku, quantity in remaining.items():
            remaining[sku] = quantity - min(available(best, sku), quantity)
    return tuple(chosen)


def _assign(wanted: Sequence[Line], chosen: Sequence[str], available: _Available) -> AllocationPlan:
    per_warehouse: dict[str, list[Line]] = {w: [] for w in chosen}
    for line in wanted:
        whole = next((w for w in chosen if available(w, line.sku) >= line.quantity), None)
        if whole is not None:
            per_warehouse[whole].append(line)
            continue
        remaining = line.quantity
        for warehouse_id in chosen:
            take = min(available(warehouse_id, line.sku), remaining)
            if take > 0:
                per_warehouse[warehouse_id].append(Line(line.sku, take))
                remaining -= take
            if remaining == 0:
                break
    return AllocationPlan(
        tuple(ShipmentPlan(w, tuple(ls)) for w, ls in per_warehouse.items() if ls)
    )

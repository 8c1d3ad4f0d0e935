"""Holding stock for a plan: all of it or nothing, re-planned when a concurrent reservation took
the units a plan counted on, and given up (for the consumer to retry) when that keeps on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from orderflow_chassis.errors import TransientError
from orderflow_fulfillment.domain.allocation import Allocation, AllocationPlan, Line, Shortage
from orderflow_fulfillment.handlers._reserving import RESERVATION_ATTEMPTS, reserve_lines

from services.fulfillment.tests.fakes import InMemoryStock


@dataclass
class RacedStock(InMemoryStock):
    """Another order takes ``taken`` units of a row right after each plan is made."""

    taken: tuple[str, str, int] = ("", "", 0)

    async def try_reserve(self, allocations: Sequence[Allocation]) -> bool:
        warehouse_id, sku, quantity = self.taken
        if quantity:
            self.rows[warehouse_id, sku].reserved += quantity
            self.taken = ("", "", 0)
        return await super().try_reserve(allocations)


def two_warehouses(stock: InMemoryStock) -> None:
    stock.add_warehouse("EU", "DE", {"GEL": 2})
    stock.add_warehouse("US", "US", {"GEL": 2})


async def test_a_plan_the_stock_still_fits_is_reserved_whole() -> None:
    stock = InMemoryStock()
    two_warehouses(stock)

    outcome = await reserve_lines(stock, [Line("GEL", 1), Line("GEL", 1)], "DE")

    assert isinstance(outcome, AllocationPlan)
    assert outcome.allocations() == [Allocation("EU", "GEL", 2)]
    assert stock.level("EU", "GEL") == (2, 2)


async def test_a_plan_overtaken_by_a_concurrent_reservation_is_made_again() -> None:
    stock = RacedStock(taken=("EU", "GEL", 1))
    two_warehouses(stock)

    outcome = await reserve_lines(stock, [Line("GEL", 2)], "DE")

    assert isinstance(outcome, AllocationPlan)
    assert outcome.allocations() == [Allocation("US", "GEL", 2)]
    assert stock.level("EU", "GEL") == (2, 1), "only the other order's unit"
    assert stock.level("US", "GEL") == (2, 2)


async def test_a_shortage_found_on_re_planning_reserves_nothing() -> None:
    stock = RacedStock(taken=("EU", "GEL", 2))
    stock.add_warehouse("EU", "DE", {"GEL": 2})

    outcome = await reserve_lines(stock, [Line("GEL", 2)], "DE")

    assert isinstance(outcome, Shortage)
    assert [(s.sku, s.requested, s.available) for s in outcome.short_lines] == [("GEL", 2, 0)]
    assert stock.level("EU", "GEL") == (2, 2), "only the other order's units"


async def test_stock_that_keeps_changing_gives_up_for_the_consumer_to_retry() -> None:
    stock = InMemoryStock(races_lost=RESERVATION_ATTEMPTS)
    two_warehouses(stock)

    with pytest.raises(TransientError):
        await reserve_lines(stock, [Line("GEL", 1)], "DE")

    assert stock.level("EU", "GEL") == (2, 0)
    assert stock.level("US", "GEL") == (2, 0)


async def test_losing_fewer_races_than_the_attempts_still_reserves() -> None:
    stock = InMemoryStock(races_lost=RESERVATION_ATTEMPTS - 1)
    two_warehouses(stock)

    outcome = await reserve_lines(stock, [Line("GEL", 1)], "DE")

    assert isinstance(outcome, AllocationPlan)
    assert stock.level("EU", "GEL") == (2, 1)

"""Warehouse choice, splitting and shortages: plan_allocation with plain values."""

from __future__ import annotations

import pytest
from orderflow_fulfillment.domain.allocation import (
    EXACT_SEARCH_LIMIT,
    AllocationPlan,
    Line,
    ShipmentPlan,
    Shortage,
    ShortLine,
    Warehouse,
    merge_lines,
    plan_allocation,
)

US = Warehouse("US-EAST", "US", frozenset({"CA", "MX"}))
EU = Warehouse("EU-CENTRAL", "DE", frozenset({"FR", "AT", "NL"}))
AP = Warehouse("AP-SOUTHEAST", "SG", frozenset({"AU", "JP"}))
WAREHOUSES = [US, EU, AP]


def plan(
    lines: list[Line],
    stock: dict[tuple[str, str], int],
    country: str,
    warehouses: list[Warehouse] = WAREHOUSES,
) -> AllocationPlan | Shortage:
    return plan_allocation(lines, warehouses, stock, country)


def test_distance_is_own_country_then_near_then_anywhere() -> None:
    assert EU.distance_to("DE") == 0
    assert EU.distance_to("FR") == 1
    assert EU.distance_to("US") == 2


def test_a_single_warehouse_that_can_ship_everything_is_chosen() -> None:
    stock = {("US-EAST", "A"): 5, ("US-EAST", "B"): 1, ("EU-CENTRAL", "A"): 9}
    assert plan([Line("A", 2), Line("B", 1)], stock, "DE") == AllocationPlan(
        (ShipmentPlan("US-EAST", (Line("A", 2), Line("B", 1))),)
    )


@pytest.mark.parametrize(
    ("country", "expected"),
    [("DE", "EU-CENTRAL"), ("FR", "EU-CENTRAL"), ("US", "US-EAST"), ("CA", "US-EAST")],
)
def test_the_nearest_of_several_complete_warehouses_ships(country: str, expected: str) -> None:
    stock = {("US-EAST", "A"): 5, ("EU-CENTRAL", "A"): 5, ("AP-SOUTHEAST", "A"): 5}
    outcome = plan([Line("A", 3)], stock, country)
    assert outcome == AllocationPlan((ShipmentPlan(expected, (Line("A", 3),)),))


def test_near_beats_far_and_ties_go_to_the_lowest_id() -> None:
    stock = {("US-EAST", "A"): 5, ("EU-CENTRAL", "A"): 5, ("AP-SOUTHEAST", "A"): 5}
    assert plan([Line("A", 1)], stock, "JP") == AllocationPlan(
        (ShipmentPlan("AP-SOUTHEAST", (Line("A", 1),)),)
    )
    # Brazil is near none of them: all are equally far, the lowest id wins.
    assert plan([Line("A", 1)], stock, "BR") == AllocationPlan(
        (ShipmentPlan("AP-SOUTHEAST", (Line("A", 1),)),)
    )


def test_a_farther_complete_warehouse_beats_splitting_in_the_nearest() -> None:
    stock = {("EU-CENTRAL", "A"): 2, ("EU-CENTRAL", "B"): 0, ("US-EAST", "A"): 2}
    stock[("US-EAST", "B")] = 1
    assert plan([Line("A", 2), Line("B", 1)], stock, "DE") == AllocationPlan(
        (ShipmentPlan("US-EAST", (Line("A", 2), Line("B", 1))),)
    )


def test_split_across_two_warehouses_when_none_has_everything() -> None:
    stock = {("EU-CENTRAL", "A"): 3, ("US-EAST", "B"): 2}
    outcome = plan([Line("A", 3), Line("B", 2)], stock, "DE")
    assert outcome == AllocationPlan(
        (
            ShipmentPlan("EU-CENTRAL", (Line("A", 3),)),
            ShipmentPlan("US-EAST", (Line("B", 2),)),
        )
    )


def test_one_sku_split_across_warehouses_takes_the_nearest_first() -> None:
    stock = {("EU-CENTRAL", "A"): 4, ("US-EAST", "A"): 4, ("AP-SOUTHEAST", "A"): 4}
    outcome = plan([Line("A", 6)], stock, "FR")
    assert outcome == AllocationPlan(
        (
            ShipmentPlan("EU-CENTRAL", (Line("A", 4),)),
            ShipmentPlan("AP-SOUTHEAST", (Line("A", 2),)),
        )
    )


def test_the_split_minimises_the_number_of_shipments() -> None:
    # Greedy "nearest first" would use EU (A), then AP (B), then US (C): three parcels.
    # US alone has B and C, so EU + US is the two-parcel answer.
    stock = {
        ("EU-CENTRAL", "A"): 1,
        ("AP-SOUTHEAST", "B"): 1,
        ("US-EAST", "B"): 1,
        ("US-EAST", "C"): 1,
    }
    outcome = plan([Line("A", 1), Line("B", 1), Line("C", 1)], stock, "DE")
    assert isinstance(outcome, AllocationPlan)
    assert [s.warehouse_id for s in outcome.shipments] == ["EU-CENTRAL", "US-EAST"]
    assert sorted((a.warehouse_id, a.sku, a.quantity) for a in outcome.allocations()) == [
        ("EU-CENTRAL", "A", 1),
        ("US-EAST", "B", 1),
        ("US-EAST", "C", 1),
    ]


def test_inside_the_chosen_set_a_sku_is_not_split_when_one_member_has_it_all() -> None:
    # EU + US are needed (C only in US, A only in EU); B: EU has 1, US has 3 -> all from US.
    stock = {
        ("EU-CENTRAL", "A"): 1,
        ("EU-CENTRAL", "B"): 1,
        ("US-EAST", "B"): 3,
        ("US-EAST", "C"): 1,
    }
    outcome = plan([Line("A", 1), Line("B", 3), Line("C", 1)], stock, "DE")
    assert outcome == AllocationPlan(
        (
            ShipmentPlan("EU-CENTRAL", (Line("A", 1),)),
            ShipmentPlan("US-EAST", (Line("B", 3), Line("C", 1))),
        )
    )


def test_shortage_lists_every_short_line_with_the_total_available() -> None:
    stock = {("EU-CENTRAL", "A"): 1, ("US-EAST", "A"): 1, ("US-EAST", "B"): 10}
    outcome = plan([Line("A", 3), Line("B", 2), Line("C", 1)], stock, "DE")
    assert outcome == Shortage((ShortLine("A", 3, 2), ShortLine("C", 1, 0)))


def test_negative_availability_counts_as_none() -> None:
    outcome = plan([Line("A", 1)], {("EU-CENTRAL", "A"): -2, ("US-EAST", "A"): 1}, "DE")
    assert outcome == AllocationPlan((ShipmentPlan("US-EAST", (Line("A", 1),)),))


def test_stock_in_an_unknown_warehouse_is_not_used() -> None:
    outcome = plan([Line("A", 1)], {("GHOST", "A"): 5}, "DE")
    assert outcome == Shortage((ShortLine("A", 1, 0),))


def test_duplicate_skus_are_merged_before_planning() -> None:
    assert merge_lines([Line("A", 1), Line("B", 2), Line("A", 3)]) == (
        Line("A", 4),
        Line("B", 2),
    )
    outcome = plan([Line("A", 1), Line("A", 1)], {("EU-CENTRAL", "A"): 1}, "DE")
    assert outcome == Shortage((ShortLine("A", 2, 1),))


def test_lines_need_positive_quantities() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Line("A", 0)
    with pytest.raises(ValueError, match="at least one line"):
        plan([], {}, "DE")


def test_many_warehouses_fall_back_to_a_greedy_cover_that_still_covers_everything() -> None:
    many = [Warehouse(f"W{i:02d}", "US") for i in range(EXACT_SEARCH_LIMIT + 3)]
    stock = {(w.warehouse_id, "A"): 1 for w in many}
    stock[("W07", "B")] = 5
    outcome = plan([Line("A", 3), Line("B", 5)], stock, "US", warehouses=many)
    assert isinstance(outcome, AllocationPlan)
    totals: dict[str, int] = {}
    for allocation in outcome.allocations():
        assert allocation.quantity <= stock[(allocation.warehouse_id, allocation.sku)]
        totals[allocation.sku] = totals.get(allocation.sku, 0) + allocation.quantity
    assert totals == {"A": 3, "B": 5}
    # W07 covers the most units (1 A + 5 B); the two A left come from the first others.
    assert [s.warehouse_id for s in outcome.shipments] == ["W00", "W01", "W07"]


def test_every_planned_shipment_has_lines_and_respects_availability() -> None:
    stock = {
        ("EU-CENTRAL", "A"): 2,
        ("EU-CENTRAL", "B"): 1,
        ("US-EAST", "A"): 2,
        ("US-EAST", "C"): 4,
        ("AP-SOUTHEAST", "B"): 3,
        ("AP-SOUTHEAST", "C"): 1,
    }
    outcome = plan([Line("A", 3), Line("B", 3), Line("C", 4)], stock, "AT")
    assert isinstance(outcome, AllocationPlan)
    assert all(shipment.lines for shipment in outcome.shipments)
    used: dict[tuple[str, str], int] = {}
    for a in outcome.allocations():
        used[(a.warehouse_id, a.sku)] = used.get((a.warehouse_id, a.sku), 0) + a.quantity
    assert all(used[key] <= stock[key] for key in used)
    assert {sku: sum(q for (_, s), q in used.items() if s == sku) for sku in "ABC"} == {
        "A": 3,
        "B": 3,
        "C": 4,
    }
    assert len(outcome.shipments) == 3  # A needs 2 warehouses, C is in US/AP: no 2-set works

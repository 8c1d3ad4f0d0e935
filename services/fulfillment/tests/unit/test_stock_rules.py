"""Counts, dispatch timing and returned parcels: the stock arithmetic with plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from orderflow_fulfillment.domain.stock import (
    CountOutcome,
    CountVerdict,
    ReturnedUnits,
    ReturnSorting,
    movement_changes_on_hand,
    reconcile_count,
    sort_returned_parcel,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def count(counted: int, *, reserved: int = 0, moved: int = 0, last: datetime | None = None):  # type: ignore[no-untyped-def]
    return reconcile_count(
        counted=counted,
        counted_at=T0,
        current_on_hand=50,
        reserved=reserved,
        last_counted_at=last,
        moved_since_count=moved,
    )


def test_a_count_replaces_on_hand() -> None:
    assert count(30, reserved=4) == CountOutcome(CountVerdict.APPLIED, 30)


def test_movements_after_the_count_are_added_to_it() -> None:
    # Counted 30 at T0; a 3-unit dispatch stamped after T0 was already applied.
    assert count(30, moved=-3) == CountOutcome(CountVerdict.APPLIED, 27)
    assert count(30, moved=+2) == CountOutcome(CountVerdict.APPLIED, 32)


def test_a_count_below_reserved_keeps_on_hand_at_reserved_and_reports_the_shortfall() -> None:
    assert count(3, reserved=5) == CountOutcome(CountVerdict.BELOW_RESERVED, 5, shortfall=2)
    assert count(6, reserved=5, moved=-2) == CountOutcome(
        CountVerdict.BELOW_RESERVED, 5, shortfall=1
    )


def test_a_count_older_than_the_last_applied_one_is_stale() -> None:
    assert count(1, last=T0) == CountOutcome(CountVerdict.STALE, 50, superseded_at=T0)
    later = T0 + timedelta(seconds=1)
    assert count(1, last=later) == CountOutcome(CountVerdict.STALE, 50, superseded_at=later)
    assert count(1, last=T0 - timedelta(seconds=1)).verdict is CountVerdict.APPLIED


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        count(-1)


def test_a_movement_before_the_last_count_is_already_in_it() -> None:
    assert movement_changes_on_hand(T0, None)
    assert movement_changes_on_hand(T0, T0 - timedelta(minutes=1))
    assert not movement_changes_on_hand(T0, T0)
    assert not movement_changes_on_hand(T0, T0 + timedelta(minutes=1))


def test_returned_units_are_sorted_by_condition() -> None:
    sorting = sort_returned_parcel(
        [
            ReturnedUnits("A", 2, "resellable"),
            ReturnedUnits("A", 1, "damaged"),
            ReturnedUnits("B", 1, "damaged"),
        ],
        {"A": 3, "B": 1},
    )
    assert sorting == ReturnSorting(
        restock={"A": 2}, write_off={"A": 1, "B": 1}, beyond_authorised={}
    )


def test_units_beyond_the_authorisation_are_reported_not_refused() -> None:
    sorting = sort_returned_parcel(
        [ReturnedUnits("A", 3, "resellable"), ReturnedUnits("C", 1, "resellable")], {"A": 2}
    )
    assert sorting.restock == {"A": 3, "C": 1}
    assert sorting.beyond_authorised == {"A": 1, "C": 1}
    assert sort_returned_parcel([ReturnedUnits("A", 3, "damaged")], None).beyond_authorised == {}

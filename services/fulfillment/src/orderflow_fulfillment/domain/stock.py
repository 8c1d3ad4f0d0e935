"""What counts, dispatches and returned parcels do to a (warehouse, SKU) stock figure.

Stock is two numbers per warehouse and SKU: ``on_hand`` (units physically in the warehouse,
reserved ones included, as the warehouse would count them) and ``reserved`` (units promised to
orders not yet dispatched). Available = on_hand - reserved. The invariant
``on_hand >= reserved >= 0`` always holds; it is also a CHECK constraint in the database.

When reserved units leave ``on_hand``: at **dispatch** (``ParcelDispatched``), when they
physically leave the building. Until then a physical count still finds them on the shelf.

Counts and movements carry the warehouse's own timestamps, so each can be placed relative to
the other even when their messages arrive in another order:

* a count replaces ``on_hand`` with what was counted, plus the movements (dispatches,
  restocks) that happened *after* the count was taken and were already applied;
* a dispatch or restock that happened *before* the last applied count is already reflected
  in that count: it changes ``reserved`` but not ``on_hand``;
* a count older than the last applied count is stale and ignored (recorded);
* an operator's stock load sets ``on_hand`` too: a count stamped at or before it is already in
  its figure (``StockLevel.stale_before``), and so is a restock stamped up to
  ``CLOCK_AHEAD_TOLERANCE`` after it (``StockLevel.restock_seen_before``: its time is ours,
  the restock's the warehouse's, which may run that far ahead; adding units the load already
  counted would offer them twice, leaving them out errs low until the next count).
  Dispatches are not compared with a load: taking units off again errs the safe way.

Warehouse input never creates a SKU: a count of a SKU that no warehouse stocks is not applied
(no stock row is invented; ops load it with ``orderflow-fulfillment stock load``), and returned
units of such a SKU are written off. Both are recorded as ``unknown_sku`` anomalies. A count of
a SKU another warehouse stocks creates the row: the product is real and now on this shelf.

A count below what is reserved cannot be applied as is without overselling: ``on_hand`` is set
to the reserved figure (so availability becomes 0) and the shortfall is recorded as a
discrepancy for ops (some promised units are missing from the shelf).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

# A warehouse time up to this far ahead of ours is taken as it is (clocks drift, and a
# warehouse may stamp a report a little ahead); beyond it, the time is wrong.
CLOCK_AHEAD_TOLERANCE: Final = timedelta(hours=1)


class CountVerdict(StrEnum):
    APPLIED = "applied"
    BELOW_RESERVED = "count_below_reserved"
    STALE = "stale_count"
    UNKNOWN_SKU = "unknown_sku"  # nothing applied: no warehouse stocks the SKU


@dataclass(frozen=True)
class CountOutcome:
    verdict: CountVerdict
    on_hand: int
    """The figure to store (unchanged for a stale count)."""
    shortfall: int = 0
    """Reserved units the count did not find (only for ``BELOW_RESERVED``)."""
    superseded_at: datetime | None = None
    """When the figure a ``STALE`` count would replace was set (a count or a stock load)."""


def reconcile_count(
    *,
    counted: int,
    counted_at: datetime,
    current_on_hand: int,
    reserved: int,
    last_counted_at: datetime | None,
    moved_since_count: int,
    lowers_only_until: datetime | None = None,
) -> CountOutcome:
    """Apply a physical count.

    ``moved_since_count`` is the signed sum of applied movements (dispatch -n, restock +n)
    that happened after ``counted_at``: they are not in the count but are real.
    ``lowers_only_until``: a count stamped at or before it cannot be placed against the figure
    it would replace (an operator's load, stamped by our clock, while the count carries the
    warehouse's, which may run ahead): it may have been made before the load, so it may lower
    on-hand (units missing since) but never raise it (stale, as a count before the load).
    """
    if counted < 0:
        raise ValueError("a count cannot be negative")
    if last_counted_at is not None and counted_at <= last_counted_at:
        return CountOutcome(CountVerdict.STALE, current_on_hand, superseded_at=last_counted_at)
    expected = counted + moved_since_count
    maybe_before_the_load = lowers_only_until is not None and counted_at <= lowers_only_until
    if maybe_before_the_load and expected > current_on_hand:
        return CountOutcome(CountVerdict.STALE, current_on_hand, superseded_at=last_counted_at)
    if expected < reserved:
        # Below zero when movements after the count were applied that it cannot have seen
        # (the warehouse's figures disagree): at most every reserved unit is unfound.
        shortfall = min(reserved - expected, reserved)
        return CountOutcome(CountVerdict.BELOW_RESERVED, reserved, shortfall=shortfall)
    return CountOutcome(CountVerdict.APPLIED, expected)


def movement_changes_on_hand(occurred_at: datetime, last_counted_at: datetime | None) -> bool:
    """A dispatch or restock changes on_hand unless the last count already saw its effect."""
    return last_counted_at is None or occurred_at > last_counted_at


def redated_dispatch_crosses_count(
    *, dispatched_at: datetime, implied_at: datetime, last_counted_at: datetime | None
) -> bool:
    """A parcel's dispatch was taken at its delivery (``implied_at``: the dispatch report came
    later, stamped ``dispatched_at``). When the last count fell between the two times, it was
    applied on the wrong side of the dispatch and must be applied again: a count after the
    real dispatch and before the delivery did not find the units, and the implied dispatch took
    them from on_hand again; a count after a delivery stamped before its dispatch (a
    warehouse's clocks disagree) still found them, and was taken as not having (review, helper
    124: they stayed on sale)."""
    return movement_changes_on_hand(dispatched_at, last_counted_at) != movement_changes_on_hand(
        implied_at, last_counted_at
    )


@dataclass(frozen=True)
class LeavingReservation:
    """What reserved units leaving their reservation do to a stock row's figures."""

    on_hand_delta: int
    unfound_consumed: int
    """Units of the row's ``unfound`` (reserved units its last count did not find) they were."""


def dispatched(
    quantity: int,
    *,
    occurred_at: datetime,
    last_counted_at: datetime | None,
    reserved: int,
    unfound: int,
) -> LeavingReservation:
    """Reserved units left with a parcel. Before the last count, the count did not see them:
    on_hand already lacks them, except the ones it was raised by to honour their reservation
    (``unfound``), which leave now. After the count they leave on_hand as any movement does;
    the count found them, so the unfound units stay with the reservations left, unless fewer
    units stay reserved than are unfound (the warehouse's figures disagree: keep the bound)."""
    if movement_changes_on_hand(occurred_at, last_counted_at):
        return LeavingReservation(-quantity, max(0, unfound - (reserved - quantity)))
    consumed = min(quantity, unfound)
    return LeavingReservation(-consumed, consumed)


def released(quantity: int, *, unfound: int) -> LeavingReservation:
    """Reserved units went back to stock; the ones the last count did not find leave on_hand,
    which held them only for the reservation. Which reservation's units are missing is not
    known; counting the released ones first never offers a unit the count did not find."""
    consumed = min(quantity, unfound)
    return LeavingReservation(-consumed, consumed)


@dataclass(frozen=True)
class ReturnedUnits:
    sku: str
    quantity: int
    condition: str  # "resellable" | "damaged"


@dataclass(frozen=True)
class ReturnSorting:
    """A returned parcel sorted into what goes back on the shelf and what is written off,
    plus what arrived beyond the authorisation (restocked anyway: it is physically there)."""

    restock: dict[str, int]
    write_off: dict[str, int]
    beyond_authorised: dict[str, int]

    def writing_off(self, skus: set[str]) -> ReturnSorting:
        """The same parcel with the units of ``skus`` written off instead of restocked: a SKU
        that no warehouse stocks cannot go on a shelf (that would invent a product)."""
        write_off = dict(self.write_off)
        for sku in skus & self.restock.keys():
            write_off[sku] = write_off.get(sku, 0) + self.restock[sku]
        restock = {sku: n for sku, n in self.restock.items() if sku not in skus}
        return ReturnSorting(restock, write_off, self.beyond_authorised)


def sort_returned_parcel(
    lines: list[ReturnedUnits], authorised: dict[str, int] | None
) -> ReturnSorting:
    """Resellable units are restocked, damaged ones written off, per SKU.

    ``authorised`` is the RMA's lines when known; units beyond it are reported, not refused:
    the warehouse holds them whatever the paperwork says.
    """
    restock: dict[str, int] = {}
    write_off: dict[str, int] = {}
    received: dict[str, int] = {}
    for line in lines:
        target = restock if line.condition == "resellable" else write_off
        target[line.sku] = target.get(line.sku, 0) + line.quantity
        received[line.sku] = received.get(line.sku, 0) + line.quantity
    beyond: dict[str, int] = {}
    if authorised is not None:
        for sku, quantity in received.items():
            extra = quantity - authorised.get(sku, 0)
            if extra > 0:
                beyond[sku] = extra
    return ReturnSorting(restock, write_off, beyond)

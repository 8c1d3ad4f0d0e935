"""The return window and the time a request is judged at.

The window is counted in **calendar days** in one configured time zone (UTC by default): the
delivery day is day 0 and the window includes the whole of day ``days``. With 30 days, a parcel
delivered on 3 February (any time of that day) may be returned until 5 March 23:59:59.999999,
and a request made at 6 March 00:00:00 is late. Calendar days are what a customer and a
customer-service agent count; the exact instant it closes is :meth:`ReturnWindow.closes_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def judged_at(occurred_at: datetime, now: datetime) -> datetime:
    """The moment a customer's request is judged at: when the storefront says the customer made
    it (the envelope's ``occurred_at``), so a backlog or an outage on our side never costs a
    customer their return, but never later than our clock (a timestamp from the future counts
    as now)."""
    if occurred_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return min(occurred_at, now)


@dataclass(frozen=True)
class ReturnWindow:
    days: int = 30
    time_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError("the return window cannot be negative")

    def local_date(self, moment: datetime) -> date:
        """The calendar date of ``moment`` in the window's time zone."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        return moment.astimezone(self.time_zone).date()

    def last_day(self, delivered_at: datetime) -> date:
        """The last calendar day a return may be requested for units delivered then."""
        return self.local_date(delivered_at) + timedelta(days=self.days)

    def closes_at(self, delivered_at: datetime) -> datetime:
        """The first instant (UTC) outside the window: midnight after the last day."""
        midnight = datetime.combine(
            self.last_day(delivered_at) + timedelta(days=1), time(0), tzinfo=self.time_zone
        )
        return midnight.astimezone(UTC)

    def is_open(self, delivered_at: datetime, at: datetime) -> bool:
        """True when ``at`` is inside the window of units delivered at ``delivered_at``."""
        return at < self.closes_at(delivered_at)

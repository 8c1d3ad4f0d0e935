"""The return window and the time a request is judged at.

The window is counted in **calendar days** in one configured time zone (UTC by default): the
delivery day is day 0 and the window includes the whole of day ``days``. With 30 days, a parcel
delivered on 3 February (any time of that day) may be returned until 5 March 23:59:59.999999,
and a request made at 6 March 00:00:00 is late. Calendar days are what a customer and a
customer-service agent count; the exact instant it closes is :meth:`ReturnWindow.closes_at`.

:class:`ReturnWindow` is the store's shared policy (``orderflow_contracts.policies``), where the
cart service reads it too, to show storefronts until when an order can be returned.
"""

from __future__ import annotations

from datetime import datetime

from orderflow_contracts.policies import ReturnWindow

__all__ = ["ReturnWindow", "judged_at"]


def judged_at(occurred_at: datetime, now: datetime) -> datetime:
    """The moment a customer's request is judged at: when the storefront says the customer made
    it (the envelope's ``occurred_at``), so a backlog or an outage on our side never costs a
    customer their return, but never later than our clock (a timestamp from the future counts
    as now)."""
    if occurred_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return min(occurred_at, now)

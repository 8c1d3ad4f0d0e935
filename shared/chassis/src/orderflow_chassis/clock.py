"""Time, injected: every date rule (return windows, expiries) is tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """Another clock, ``offset`` off: a service whose time rules an end-to-end test must see
    cross (``<SERVICE>_CLOCK_OFFSET_S``; never in production)."""

    def __init__(self, clock: Clock, offset: timedelta) -> None:
        self._clock = clock
        self._offset = offset

    def now(self) -> datetime:
        return self._clock.now() + self._offset


class SettableClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        if self._now.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware start")

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware time")
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        self._now += delta

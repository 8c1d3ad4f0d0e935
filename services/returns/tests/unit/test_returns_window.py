"""The return window: calendar days, day 30 inside, day 31 outside, in a configured zone."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from orderflow_returns.domain.window import ReturnWindow, judged_at

DELIVERED = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)


def test_day_30_is_inside_until_its_last_microsecond_in_utc() -> None:
    window = ReturnWindow(30)
    assert window.last_day(DELIVERED) == date(2025, 3, 5)
    assert window.is_open(DELIVERED, datetime(2025, 3, 5, 23, 59, 59, 999999, tzinfo=UTC))


def test_day_31_is_outside_from_midnight() -> None:
    window = ReturnWindow(30)
    assert window.closes_at(DELIVERED) == datetime(2025, 3, 6, 0, 0, tzinfo=UTC)
    assert not window.is_open(DELIVERED, datetime(2025, 3, 6, 0, 0, tzinfo=UTC))


def test_the_time_of_day_of_the_delivery_does_not_matter() -> None:
    window = ReturnWindow(30)
    early = datetime(2025, 2, 3, 0, 0, tzinfo=UTC)
    late = datetime(2025, 2, 3, 23, 59, 59, tzinfo=UTC)
    assert window.closes_at(early) == window.closes_at(late) == window.closes_at(DELIVERED)


def test_a_request_before_the_delivery_is_inside() -> None:
    assert ReturnWindow(30).is_open(DELIVERED, DELIVERED - timedelta(hours=1))


def test_window_counted_in_a_configured_time_zone() -> None:
    berlin = ReturnWindow(30, ZoneInfo("Europe/Berlin"))
    delivered = datetime(2025, 2, 3, 23, 30, tzinfo=UTC)  # 4 Feb 00:30 in Berlin
    assert berlin.last_day(delivered) == date(2025, 3, 6)
    assert berlin.closes_at(delivered) == datetime(2025, 3, 6, 23, 0, tzinfo=UTC)
    assert berlin.is_open(delivered, datetime(2025, 3, 6, 22, 59, 59, tzinfo=UTC))
    assert not berlin.is_open(delivered, datetime(2025, 3, 6, 23, 0, tzinfo=UTC))


def test_window_across_a_daylight_saving_change_closes_at_local_midnight() -> None:
    berlin = ReturnWindow(30, ZoneInfo("Europe/Berlin"))
    delivered = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # CET; the window ends in CEST
    assert berlin.last_day(delivered) == date(2025, 3, 31)
    assert berlin.closes_at(delivered) == datetime(2025, 3, 31, 22, 0, tzinfo=UTC)


def test_the_window_length_is_configurable() -> None:
    assert ReturnWindow(14).last_day(DELIVERED) == date(2025, 2, 17)
    same_day = ReturnWindow(0)
    assert same_day.is_open(DELIVERED, datetime(2025, 2, 3, 23, 59, tzinfo=UTC))
    assert not same_day.is_open(DELIVERED, datetime(2025, 2, 4, 0, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="negative"):
        ReturnWindow(-1)


def test_a_request_is_judged_when_the_customer_made_it_never_later_than_now() -> None:
    now = datetime(2025, 3, 10, tzinfo=UTC)
    asked = datetime(2025, 3, 5, 23, 0, tzinfo=UTC)
    assert judged_at(asked, now) == asked  # our backlog does not cost the customer
    assert judged_at(now + timedelta(days=2), now) == now  # a future timestamp counts as now
    with pytest.raises(ValueError, match="timezone"):
        judged_at(datetime(2025, 3, 5), now)  # noqa: DTZ001

"""The store's shared after-sales policy: the dates a customer is shown and held to."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from orderflow_contracts.policies import (
    DEFAULT_RETURN_WINDOW,
    DEFAULT_WARRANTY_POLICY,
    AfterSalesPolicy,
    PolicySettingsError,
    ReturnWindow,
    WarrantyPolicy,
    add_months,
    return_window_end,
    warranty_end,
)


def test_the_return_window_ends_thirty_calendar_days_after_the_delivery_day() -> None:
    assert return_window_end(datetime(2025, 2, 3, 23, 59, tzinfo=UTC)) == date(2025, 3, 5)
    assert return_window_end(datetime(2025, 2, 3, 0, 0, tzinfo=UTC)) == date(2025, 3, 5)


def test_the_window_counts_days_in_its_own_time_zone() -> None:
    berlin = ReturnWindow(30, ZoneInfo("Europe/Berlin"))
    # 23:30 UTC on 3 Feb is already 4 Feb in Berlin.
    assert return_window_end(datetime(2025, 2, 3, 23, 30, tzinfo=UTC), berlin) == date(2025, 3, 6)


@pytest.mark.parametrize(
    ("country", "ends"),
    [
        ("DE", date(2027, 2, 3)),  # EU: 24 months
        ("CH", date(2027, 2, 3)),
        ("US", date(2026, 2, 3)),  # 12 months
        ("BR", date(2026, 2, 3)),  # not listed: the default, 12 months
    ],
)
def test_the_warranty_ends_by_the_country_of_usage(country: str, ends: date) -> None:
    assert warranty_end(country, datetime(2025, 2, 3, 15, 0, tzinfo=UTC)) == ends


def test_no_warranty_where_the_term_is_zero_months() -> None:
    policy = WarrantyPolicy.from_data(
        {"default_months": 12, "default_basis": "x", "terms": [
            {"months": 0, "basis": "none", "countries": ["AQ"]}
        ]}
    )  # fmt: skip
    assert warranty_end("AQ", datetime(2025, 2, 3, tzinfo=UTC), policy=policy) is None
    assert warranty_end("FR", datetime(2025, 2, 3, tzinfo=UTC), policy=policy) == date(2026, 2, 3)


def test_a_month_without_the_day_ends_on_its_last_day() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_the_shared_table_names_each_country_once_and_refuses_duplicates() -> None:
    assert DEFAULT_WARRANTY_POLICY.term_for("DE").months == 24
    assert DEFAULT_WARRANTY_POLICY.term_for("JP").months == 12
    with pytest.raises(ValueError, match="DE appears more than once"):
        WarrantyPolicy.from_toml(
            'default_months = 12\ndefault_basis = "x"\n'
            '[[terms]]\nmonths = 1\nbasis = "a"\ncountries = ["DE"]\n'
            '[[terms]]\nmonths = 2\nbasis = "b"\ncountries = ["DE"]\n'
        )


def test_without_overrides_the_policy_is_the_shipped_one() -> None:
    policy = AfterSalesPolicy.from_environment({"AFTER_SALES_RETURN_WINDOW_DAYS": " "})
    assert policy == AfterSalesPolicy(DEFAULT_RETURN_WINDOW, DEFAULT_WARRANTY_POLICY)


def test_the_overrides_are_read_from_the_after_sales_variables(tmp_path: Path) -> None:
    terms = tmp_path / "terms.toml"
    terms.write_text('default_months = 0\ndefault_basis = "none"\n')
    policy = AfterSalesPolicy.from_environment(
        {
            "AFTER_SALES_RETURN_WINDOW_DAYS": "0",
            "AFTER_SALES_TIME_ZONE": "America/New_York",
            "AFTER_SALES_WARRANTY_POLICY_FILE": str(terms),
        }
    )
    assert policy.window == ReturnWindow(0, ZoneInfo("America/New_York"))
    assert not policy.warranty.term_for("DE").covered


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("AFTER_SALES_RETURN_WINDOW_DAYS", "-1", "whole number of days from 0 to 365"),
        ("AFTER_SALES_RETURN_WINDOW_DAYS", "366", "whole number of days from 0 to 365"),
        ("AFTER_SALES_RETURN_WINDOW_DAYS", "14.5", "not '14.5'"),
        ("AFTER_SALES_RETURN_WINDOW_DAYS", "\u0661\u0664", "whole number of days"),
        ("AFTER_SALES_TIME_ZONE", "Mars/Olympus", "unknown IANA time zone 'Mars/Olympus'"),
        ("AFTER_SALES_WARRANTY_POLICY_FILE", "/nowhere/terms.toml", "cannot load the warranty"),
    ],
)
def test_a_bad_override_is_refused_naming_the_variable(variable: str, value: str, why: str) -> None:
    with pytest.raises(PolicySettingsError, match=variable) as refused:
        AfterSalesPolicy.from_environment({variable: value})
    assert why in str(refused.value)


def test_a_policy_listing_a_code_that_is_no_iso_country_is_refused() -> None:
    # Review (helper 107): a term for "UK" would never match a claim from GB.
    with pytest.raises(ValueError, match="UK is not an ISO 3166-1 alpha-2 country code"):
        WarrantyPolicy.from_data(
            {"default_months": 12, "default_basis": "x", "terms": [
                {"months": 24, "basis": "y", "countries": ["UK"]}
            ]}
        )  # fmt: skip

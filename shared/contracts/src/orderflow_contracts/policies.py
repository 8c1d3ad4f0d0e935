"""The store's after-sales policy, shared by every service that shows or applies it.

The returns service *applies* it (it authorises returns and judges warranty claims); the cart
service *shows* it to storefronts (until when an order can be returned, until when each line is
under warranty where it is used). Both read the figures from here, so the dates a customer is
shown are the dates the returns service will hold them to. Pure data and pure functions: no I/O
except :meth:`WarrantyPolicy.load`, which reads an operator's override file.

* **Return window.** Counted in calendar days in one time zone (UTC by default): the delivery
  day is day 0 and the window includes the whole of day ``days`` (30). A parcel delivered on
  3 February (any time of that day) may be returned until 5 March 23:59:59.999999.
* **Warranty.** Each country of usage has a term in months from the delivery of the product
  (countries not listed get the default term; 0 months means no warranty there): delivered
  3 Feb 2025 with a 24-month term, the last covered day is 3 Feb 2027 (the same day of the
  month, or the month's last day when it has no such day).

**Overrides, one set for every service.** An operator changes the figures with three
environment variables, read by :meth:`AfterSalesPolicy.from_environment` in the returns service
(which applies them) and the cart service (which shows them) alike:
``AFTER_SALES_RETURN_WINDOW_DAYS`` (30), ``AFTER_SALES_TIME_ZONE`` (UTC) and
``AFTER_SALES_WARRANTY_POLICY_FILE`` (a TOML file of the shape of :data:`WARRANTY_TERMS`). The
returns service's former names (``RETURNS_RETURN_WINDOW_DAYS``, ``RETURNS_WINDOW_TIME_ZONE``,
``RETURNS_WARRANTY_POLICY_FILE``) are refused with the new name: read by returns alone, they
made the storefront show other dates than the ones returns applied.

PRODUCT POLICY, NOT LEGAL ADVICE: these figures are what this shop offers; where a country's law
gives consumers more, the law wins and customer service handles it by hand.
"""

from __future__ import annotations

import calendar
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from orderflow_contracts.countries import is_iso_country

RETURN_WINDOW_DAYS: Final = 30
"""Calendar days after the delivery day during which a return may be requested."""


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# ---------------------------------------------------------------------------- return window


@dataclass(frozen=True)
class ReturnWindow:
    days: int = RETURN_WINDOW_DAYS
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


# --------------------------------------------------------------------------------- warranty


def _iso_country(code: str) -> str:
    if not is_iso_country(code):
        # A term listed for "UK" or "EL" would never match a claim from GB or GR.
        raise ValueError(f"{code} is not an ISO 3166-1 alpha-2 country code (GB, GR, DE...)")
    return code


Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_iso_country)]


class _TermGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    months: Annotated[int, Field(ge=0, le=240)]
    basis: Annotated[str, StringConstraints(min_length=1)]
    countries: Annotated[list[Country], Field(min_length=1)]


class _PolicyFile(BaseModel):
    """The shape of a warranty policy (the default below, or an operator's TOML file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_months: Annotated[int, Field(ge=0, le=240)]
    default_basis: Annotated[str, StringConstraints(min_length=1)]
    terms: list[_TermGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_country_once(self) -> _PolicyFile:
        seen: set[str] = set()
        for group in self.terms:
            for country in group.countries:
                if country in seen:
                    raise ValueError(f"{country} appears more than once in the warranty policy")
                seen.add(country)
        return self


@dataclass(frozen=True)
class WarrantyTerm:
    country: str
    months: int
    basis: str

    @property
    def covered(self) -> bool:
        return self.months > 0


@dataclass(frozen=True)
class WarrantyPolicy:
    default_months: int
    default_basis: str
    countries: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    def term_for(self, country: str) -> WarrantyTerm:
        months, basis = self.countries.get(country, (self.default_months, self.default_basis))
        return WarrantyTerm(country, months, basis)

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> WarrantyPolicy:
        """A policy from its data: ``default_months``, ``default_basis`` and ``terms`` (groups
        of ``months``, ``basis``, ``countries``), each country at most once."""
        parsed = _PolicyFile.model_validate(data)
        return cls(
            default_months=parsed.default_months,
            default_basis=parsed.default_basis,
            countries={
                country: (group.months, group.basis)
                for group in parsed.terms
                for country in group.countries
            },
        )

    @classmethod
    def from_toml(cls, text: str) -> WarrantyPolicy:
        return cls.from_data(tomllib.loads(text))

    @classmethod
    def load(cls, path: Path) -> WarrantyPolicy:
        try:
            return cls.from_toml(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot load the warranty policy {path}: {error}") from error


WARRANTY_TERMS: Final[Mapping[str, object]] = {
    "default_months": 12,
    "default_basis": "shop warranty (default)",
    "terms": [
        {
            "months": 24,
            "basis": "EU/EEA: aligned with the 2-year legal guarantee of conformity",
            "countries": (  # noqa: SIM905 - a table, read as one
                "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
                " IS LI NO"
            ).split(),
        },
        {
            "months": 24,
            "basis": "Switzerland: aligned with the 2-year statutory warranty",
            "countries": ["CH"],
        },
        {
            "months": 24,
            "basis": "Australia: shop policy for the consumer guarantees",
            "countries": ["AU"],
        },
        {"months": 12, "basis": "shop warranty", "countries": ["GB", "US", "CA", "JP"]},
    ],
}
"""The warranty terms per country of usage (ISO 3166-1 alpha-2), in months from delivery.
Countries not listed get ``default_months``; 0 months means no warranty for products used there.
An operator can replace the whole table with a TOML file of the same shape
(``AFTER_SALES_WARRANTY_POLICY_FILE``)."""

DEFAULT_RETURN_WINDOW: Final = ReturnWindow()
DEFAULT_WARRANTY_POLICY: Final = WarrantyPolicy.from_data(WARRANTY_TERMS)


# ------------------------------------------------------------------ one set of overrides

WINDOW_DAYS_VARIABLE: Final = "AFTER_SALES_RETURN_WINDOW_DAYS"
TIME_ZONE_VARIABLE: Final = "AFTER_SALES_TIME_ZONE"
WARRANTY_FILE_VARIABLE: Final = "AFTER_SALES_WARRANTY_POLICY_FILE"
MAX_RETURN_WINDOW_DAYS: Final = 365

RETIRED_VARIABLES: Final[Mapping[str, str]] = {
    "RETURNS_RETURN_WINDOW_DAYS": WINDOW_DAYS_VARIABLE,
    "RETURNS_WINDOW_TIME_ZONE": TIME_ZONE_VARIABLE,
    "RETURNS_WARRANTY_POLICY_FILE": WARRANTY_FILE_VARIABLE,
}
"""The returns service's former names of the overrides, refused: read by one service only,
they would make the others show other dates."""


class PolicySettingsError(ValueError):
    """An override of the after-sales policy is invalid or uses a retired name."""


@dataclass(frozen=True)
class AfterSalesPolicy:
    """The return window and the warranty terms in force: the defaults above, or the
    operator's overrides (see the module docstring)."""

    window: ReturnWindow = DEFAULT_RETURN_WINDOW
    warranty: WarrantyPolicy = DEFAULT_WARRANTY_POLICY

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AfterSalesPolicy:
        """The policy the ``AFTER_SALES_*`` variables of ``environ`` (default: this process'
        environment) set; :class:`PolicySettingsError` naming the variable otherwise."""
        env = os.environ if environ is None else environ
        retired = [f"{old} (now {new})" for old, new in RETIRED_VARIABLES.items() if old in env]
        if retired:
            raise PolicySettingsError(
                "the after-sales policy is set for every service at once now, so that the "
                "storefront shows the dates returns applies; rename " + ", ".join(retired)
            )
        window = ReturnWindow(_window_days(env), _time_zone(env))
        warranty_file = env.get(WARRANTY_FILE_VARIABLE, "").strip()
        if not warranty_file:
            return cls(window, DEFAULT_WARRANTY_POLICY)
        try:
            warranty = WarrantyPolicy.load(Path(warranty_file))
        except ValueError as error:
            raise PolicySettingsError(f"{WARRANTY_FILE_VARIABLE}: {error}") from error
        return cls(window, warranty)


def _window_days(env: Mapping[str, str]) -> int:
    text = env.get(WINDOW_DAYS_VARIABLE, "").strip()
    if not text:
        return RETURN_WINDOW_DAYS
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_RETURN_WINDOW_DAYS:
        raise PolicySettingsError(
            f"{WINDOW_DAYS_VARIABLE} must be a whole number of days from 0 to "
            f"{MAX_RETURN_WINDOW_DAYS}, not {text[:40]!r}"
        )
    return int(text)


def _time_zone(env: Mapping[str, str]) -> ZoneInfo:
    name = env.get(TIME_ZONE_VARIABLE, "").strip() or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise PolicySettingsError(
            f"{TIME_ZONE_VARIABLE}: unknown IANA time zone {name[:60]!r}"
        ) from error


# ------------------------------------------------------------------------ what customers see


def return_window_end(delivered_at: datetime, window: ReturnWindow = DEFAULT_RETURN_WINDOW) -> date:
    """The last calendar day units delivered at ``delivered_at`` may be returned."""
    return window.last_day(delivered_at)


def warranty_end(
    country_of_usage: str,
    delivered_at: datetime,
    *,
    policy: WarrantyPolicy = DEFAULT_WARRANTY_POLICY,
    window: ReturnWindow = DEFAULT_RETURN_WINDOW,
) -> date | None:
    """The last day a product delivered at ``delivered_at`` and used in ``country_of_usage`` is
    under warranty; None when the shop offers no warranty there. (Every product has the same
    terms today: the policy varies by country only.)"""
    term = policy.term_for(country_of_usage)
    if not term.covered:
        return None
    return add_months(window.local_date(delivered_at), term.months)

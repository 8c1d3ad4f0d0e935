"""International warranty: a defect claim judged by the country where the product is used.

* **Term.** Each country of usage has a term in months (:class:`WarrantyPolicy`, loaded from a
  data file; countries not listed get the default term; 0 months means no warranty there). The
  term runs from the delivery of that product (its latest delivery in the order, in the return
  window's time zone): delivered 3 Feb 2025 with a 24-month term, the last covered day is
  3 Feb 2027 (the same day of the month, or the month's last day when it has no such day).
* **Return window first.** While the product's return window is open, a claim is answered
  ``within_return_window``: the customer should use the return flow (a refund or an exchange).
* **Units.** The units of an order line are numbered 1..delivered. A claim covers the next
  unclaimed units; units returned for a refund cannot be claimed, and a unit is accepted at
  most once (``already_claimed``): a line of 1 unit gets at most one replacement.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

from orderflow_contracts.events import WarrantyRejectionCode
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from orderflow_returns.domain.returns import Delivery
from orderflow_returns.domain.window import ReturnWindow


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --------------------------------------------------------------------------------- policy

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _TermGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    months: Annotated[int, Field(ge=0, le=240)]
    basis: Annotated[str, StringConstraints(min_length=1)]
    countries: Annotated[list[Country], Field(min_length=1)]


class _PolicyFile(BaseModel):
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
    def from_toml(cls, text: str) -> WarrantyPolicy:
        parsed = _PolicyFile.model_validate(tomllib.loads(text))
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
    def load(cls, path: Path) -> WarrantyPolicy:
        try:
            return cls.from_toml(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot load the warranty policy {path}: {error}") from error


# ------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class ClaimFacts:
    """What is known about the claimed order line when the claim is judged."""

    order_placed: bool
    ordered: Mapping[str, int]
    deliveries: tuple[Delivery, ...]
    returned_units: int
    claimed_units: int
    customer_id: str | None = None

    @property
    def delivered_units(self) -> int:
        return sum(d.quantity for d in self.deliveries)


@dataclass(frozen=True)
class ClaimAcceptance:
    first_unit: int
    last_unit: int
    term: WarrantyTerm
    warranty_ends_on: date


@dataclass(frozen=True)
class ClaimRefusal:
    code: WarrantyRejectionCode
    message: str


ClaimDecision = ClaimAcceptance | ClaimRefusal


def decide_claim(
    *,
    sku: str,
    quantity: int,
    country_of_usage: str,
    facts: ClaimFacts,
    at: datetime,
    window: ReturnWindow,
    policy: WarrantyPolicy,
    customer_id: str | None = None,
) -> ClaimDecision:
    """Accept or reject a warranty claim filed at ``at``."""
    if not facts.order_placed or (
        customer_id is not None
        and facts.customer_id is not None
        and customer_id != facts.customer_id
    ):
        # The replacement ships to the order's address, so the order itself must be known.
        return ClaimRefusal(WarrantyRejectionCode.UNKNOWN_ORDER, "We have no order with this id.")
    if sku not in facts.ordered:
        return ClaimRefusal(WarrantyRejectionCode.UNKNOWN_SKU, f"{sku} is not part of this order")
    if not facts.deliveries:
        return ClaimRefusal(WarrantyRejectionCode.NOT_DELIVERED, f"{sku} has not been delivered")

    claimable = facts.delivered_units - facts.returned_units - facts.claimed_units
    if quantity > claimable:
        if facts.claimed_units > 0:
            return ClaimRefusal(
                WarrantyRejectionCode.ALREADY_CLAIMED,
                f"{sku}: {facts.claimed_units} of {facts.delivered_units} delivered units were "
                f"already replaced under warranty; {max(claimable, 0)} left to claim",
            )
        return ClaimRefusal(
            WarrantyRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
            f"{sku}: {quantity} claimed, {max(claimable, 0)} delivered and not returned",
        )

    delivered_at = max(d.delivered_at for d in facts.deliveries)
    if window.is_open(delivered_at, at):
        return ClaimRefusal(
            WarrantyRejectionCode.WITHIN_RETURN_WINDOW,
            f"{sku} is still inside the {window.days}-day return window (until "
            f"{window.last_day(delivered_at).isoformat()}): please request a return instead",
        )
    term = policy.term_for(country_of_usage)
    if not term.covered:
        return ClaimRefusal(
            WarrantyRejectionCode.NOT_COVERED_IN_COUNTRY,
            f"We offer no warranty for products used in {country_of_usage}",
        )
    ends_on = add_months(window.local_date(delivered_at), term.months)
    if window.local_date(at) > ends_on:
        return ClaimRefusal(
            WarrantyRejectionCode.WARRANTY_EXPIRED,
            f"The {term.months}-month warranty in {country_of_usage} ended on "
            f"{ends_on.isoformat()}",
        )
    first = facts.claimed_units + 1
    return ClaimAcceptance(first, first + quantity - 1, term, ends_on)

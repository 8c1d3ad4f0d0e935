"""International warranty: a defect claim judged by the country where the product is used.

* **Term.** Each country of usage has a term in months (:class:`WarrantyPolicy`: the store's
  shared policy in ``orderflow_contracts.policies``, or an operator's TOML file; countries not
  listed get the default term; 0 months means no warranty there). The term runs from the
  delivery of that product (its latest delivery in the order, in the return window's time
  zone): delivered 3 Feb 2025 with a 24-month term, the last covered day is
  3 Feb 2027 (the same day of the month, or the month's last day when it has no such day).
* **Return window first.** While the product's return window is open, a claim is answered
  ``within_return_window``: the customer should use the return flow (a refund or an exchange).
* **Units.** The units of an order line are numbered 1..delivered. A claim covers the next
  unclaimed units; units returned for a refund cannot be claimed, and a unit is accepted at
  most once (``already_claimed``): a line of 1 unit gets at most one replacement.
* **Delivered by the claim.** Only units delivered by the time of the claim count (give or
  take the clocks, ``DELIVERY_CLOCK_ALLOWANCE``): a claim stamped before its parcel came finds
  none.
* **Waiting.** An answer a delivery (or the order) not read yet could change says so
  (``may_await_delivery``): a refusal for no order, nothing delivered, or too few units or an
  ended term while some of the line are still to be delivered; an acceptance while some are
  (the next parcel could make it a return, or start a later term).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from orderflow_contracts.countries import is_iso_country
from orderflow_contracts.events import WarrantyRejectionCode
from orderflow_contracts.policies import WarrantyPolicy, WarrantyTerm, add_months

from orderflow_returns.domain.returns import DELIVERY_CLOCK_ALLOWANCE, Delivery
from orderflow_returns.domain.window import ReturnWindow

__all__ = [
    "ClaimAcceptance",
    "ClaimDecision",
    "ClaimFacts",
    "ClaimRefusal",
    "WarrantyPolicy",
    "WarrantyTerm",
    "add_months",
    "decide_claim",
]


# ------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class ClaimFacts:
    """What is known about the claimed order line when the claim is judged."""

    order_placed: bool
    ordered: Mapping[str, int]
    deliveries: tuple[Delivery, ...]
    returned_units: int
    claimed_units: int
    # Units of the line a return request made now could take back (open windows only):
    # the parcel-by-parcel answer of the returns rules (``returnable_units``).
    returnable_now: int
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
    # A parcel of the line not read yet could make it a return (its window still open) or
    # start a later term: it waits as a refusal does (review, helper 127).
    may_await_delivery: bool = False


@dataclass(frozen=True)
class ClaimRefusal:
    code: WarrantyRejectionCode
    message: str
    # A delivery (or the order) not read yet could turn it into an acceptance.
    may_await_delivery: bool = False


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
    if not is_iso_country(country_of_usage):
        # "UK" or "EL" read as a country we have no term for got the default one: Greece's
        # 24 months became 12, and the claim was refused as expired.
        return ClaimRefusal(
            WarrantyRejectionCode.INVALID_COUNTRY,
            f"{country_of_usage} is not an ISO 3166-1 alpha-2 country code (the United "
            "Kingdom is GB, Greece GR)",
        )
    if not facts.order_placed or (customer_id is not None and customer_id != facts.customer_id):
        # The replacement ships to the order's address, so the order itself must be known;
        # a claim naming another customer (or one the facts do not name) learns nothing of it.
        return ClaimRefusal(
            WarrantyRejectionCode.UNKNOWN_ORDER,
            "We have no order with this id.",
            may_await_delivery=True,
        )
    if sku not in facts.ordered:
        return ClaimRefusal(WarrantyRejectionCode.UNKNOWN_SKU, f"{sku} is not part of this order")
    # A split shipment's next parcel, its delivery not read yet, could bring the units; a
    # delivery already read after the claim's stamp cannot (counted from every one read).
    more_may_come = facts.delivered_units < facts.ordered[sku]
    # Only units delivered by the claim count (returns.py: a backdated claim finds none).
    latest = at + DELIVERY_CLOCK_ALLOWANCE
    received = tuple(d for d in facts.deliveries if d.delivered_at <= latest)
    facts = replace(facts, deliveries=received)
    if not facts.deliveries:
        return ClaimRefusal(
            WarrantyRejectionCode.NOT_DELIVERED,
            f"{sku} had not been delivered when this claim was made",
            may_await_delivery=more_may_come,
        )

    claimable = facts.delivered_units - facts.returned_units - facts.claimed_units
    if quantity > claimable:
        # The first code that applies, as for returns: more than was delivered (and kept) is
        # that, whatever was replaced before; the replacements are the cause only otherwise.
        if facts.claimed_units > 0 and quantity <= facts.delivered_units - facts.returned_units:
            return ClaimRefusal(
                WarrantyRejectionCode.ALREADY_CLAIMED,
                f"{sku}: {facts.claimed_units} of {facts.delivered_units} delivered units were "
                f"already replaced under warranty; {max(claimable, 0)} left to claim",
                may_await_delivery=more_may_come,
            )
        return ClaimRefusal(
            WarrantyRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
            f"{sku}: {quantity} claimed, {max(claimable, 0)} delivered and not returned",
            may_await_delivery=more_may_come,
        )

    delivered_at = max(d.delivered_at for d in facts.deliveries)
    # Sent to a return only when a return could take the units back: with parcels delivered
    # at different times, the units claimed may be in one whose window closed while a later
    # one's is open, and a return would refuse them as out of its window.
    if window.is_open(delivered_at, at) and quantity <= facts.returnable_now:
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
            # A later parcel of the line, its delivery not read yet, starts a later term (one
            # already read, stamped after the claim, cannot: counted from every one read).
            may_await_delivery=more_may_come,
        )
    first = facts.claimed_units + 1
    return ClaimAcceptance(
        first, first + quantity - 1, term, ends_on, may_await_delivery=more_may_come
    )

"""Return requests: may these units come back?

A request is authorised only as a whole (every line passes), otherwise rejected with one reason
code (the most fundamental problem found, see ``_PRECEDENCE``) and a message naming every line
that failed.

Per line (one SKU; duplicated SKUs in a request are added up):

* ``unknown_sku``: the order (as placed) has no such SKU.
* ``not_delivered``: no unit of that SKU has been delivered yet.
* ``window_expired``: every delivery of that SKU is past its window, or the customer asks for
  more units than were delivered inside the window.
* ``quantity_exceeds_delivered``: more units than *delivered minus already returned* (units of
  earlier RMAs: the authorised quantity while the parcel is on its way, the received quantity
  once it arrived).

Returnable units of a SKU = min(units delivered whose window is still open, units delivered -
units already returned). Returns are attributed to the oldest deliveries first: a customer who
received the same product in two parcels keeps the newest units, which is the reading most
favourable to them. Replacement shipments (warranty) are not returnable for money and are not
counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from orderflow_contracts.events import ReturnRejectionCode

from orderflow_returns.domain.window import ReturnWindow

MAX_MESSAGE_LENGTH = 500


@dataclass(frozen=True)
class Delivery:
    """Units of one SKU that reached the customer (one shipment)."""

    sku: str
    quantity: int
    delivered_at: datetime


@dataclass(frozen=True)
class OrderFacts:
    """What the service knows about one order when it judges a request.

    ``ordered`` is empty while ``OrderPlaced`` is unknown (events arrive in any order across
    topics); deliveries alone then show what the customer received.
    """

    order_placed: bool
    ordered: Mapping[str, int] = field(default_factory=dict)
    deliveries: Sequence[Delivery] = ()
    returned: Mapping[str, int] = field(default_factory=dict)
    customer_id: str | None = None

    @property
    def known(self) -> bool:
        return self.order_placed or bool(self.deliveries)

    def delivered(self, sku: str) -> int:
        return sum(d.quantity for d in self.deliveries if d.sku == sku)

    def deliveries_of(self, sku: str) -> list[Delivery]:
        return sorted((d for d in self.deliveries if d.sku == sku), key=lambda d: d.delivered_at)


@dataclass(frozen=True)
class LineProblem:
    sku: str
    code: ReturnRejectionCode
    message: str


@dataclass(frozen=True)
class ReturnAuthorisation:
    lines: tuple[tuple[str, int], ...]
    return_by: date


@dataclass(frozen=True)
class ReturnRefusal:
    code: ReturnRejectionCode
    message: str
    problems: tuple[LineProblem, ...] = ()


ReturnDecision = ReturnAuthorisation | ReturnRefusal

_PRECEDENCE = (
    ReturnRejectionCode.UNKNOWN_ORDER,
    ReturnRejectionCode.UNKNOWN_SKU,
    ReturnRejectionCode.NOT_DELIVERED,
    ReturnRejectionCode.WINDOW_EXPIRED,
    ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
)


def merge_lines(lines: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Quantities per SKU, in first-seen order."""
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    return tuple(merged.items())


def _units_in_window(facts: OrderFacts, sku: str, at: datetime, window: ReturnWindow) -> int:
    return sum(
        d.quantity for d in facts.deliveries if d.sku == sku and window.is_open(d.delivered_at, at)
    )


def returnable_units(facts: OrderFacts, sku: str, at: datetime, window: ReturnWindow) -> int:
    """How many units of ``sku`` a request made at ``at`` may return."""
    still_with_customer = facts.delivered(sku) - facts.returned.get(sku, 0)
    return max(0, min(_units_in_window(facts, sku, at, window), still_with_customer))


def decide_return(
    requested: Iterable[tuple[str, int]],
    facts: OrderFacts,
    *,
    at: datetime,
    authorised_at: datetime,
    window: ReturnWindow,
    return_shipping_days: int,
    customer_id: str | None = None,
) -> ReturnDecision:
    """Authorise or reject a return request made at ``at`` and judged at ``authorised_at``
    (later when it waited, or when the service was behind): the window counts from the
    request, the time to post the parcel from the authorisation the customer receives."""
    if not facts.known or (
        customer_id is not None
        and facts.customer_id is not None
        and customer_id != facts.customer_id
    ):
        # A request naming another customer's order is answered as if the order did not
        # exist: the answer must not reveal other customers' orders.
        return ReturnRefusal(
            ReturnRejectionCode.UNKNOWN_ORDER, "We have no delivered order with this id."
        )
    lines = merge_lines(requested)
    problems = [p for sku, qty in lines if (p := _line_problem(sku, qty, facts, at, window))]
    if problems:
        code = min((p.code for p in problems), key=_PRECEDENCE.index)
        message = "; ".join(p.message for p in problems)
        return ReturnRefusal(code, _clip(message), tuple(problems))
    return_by = window.local_date(authorised_at) + timedelta(days=return_shipping_days)
    return ReturnAuthorisation(lines, return_by)


def _line_problem(
    sku: str, quantity: int, facts: OrderFacts, at: datetime, window: ReturnWindow
) -> LineProblem | None:
    if facts.order_placed and sku not in facts.ordered:
        return LineProblem(sku, ReturnRejectionCode.UNKNOWN_SKU, f"{sku} is not part of this order")
    delivered = facts.delivered(sku)
    if delivered == 0:
        return LineProblem(sku, ReturnRejectionCode.NOT_DELIVERED, f"{sku} has not been delivered")
    in_window = _units_in_window(facts, sku, at, window)
    if in_window == 0:
        last_day = window.last_day(facts.deliveries_of(sku)[-1].delivered_at)
        return LineProblem(
            sku,
            ReturnRejectionCode.WINDOW_EXPIRED,
            f"{sku}: the {window.days}-day return window closed (last day {last_day.isoformat()})",
        )
    remaining = delivered - facts.returned.get(sku, 0)
    if quantity > remaining:
        return LineProblem(
            sku,
            ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
            f"{sku}: {quantity} requested, {max(remaining, 0)} returnable "
            f"({delivered} delivered, {delivered - remaining} already returned)",
        )
    if quantity > in_window:
        message = (
            f"{sku}: {quantity} requested, only {in_window} still inside the "
            f"{window.days}-day return window"
        )
        return LineProblem(sku, ReturnRejectionCode.WINDOW_EXPIRED, message)
    return None


def _clip(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - 3] + "..."

"""Return requests: may these units come back?

A request is authorised only as a whole (every line passes), otherwise rejected with one reason
code (the most fundamental problem found, see ``_PRECEDENCE``, among the lines no delivery can
change when there are some) and a message naming every line that failed. A refusal a delivery
not read yet could still change, its code included, waits for it
(``ReturnRefusal.may_await_delivery``).

Only parcels delivered by the time of the request count (:data:`DELIVERY_CLOCK_ALLOWANCE`
later at most, for the storefront's and the warehouse's clocks): a request stamped before its
parcel arrived cannot return it, so backdating a request never reopens a closed window.

Per line (one SKU; duplicated SKUs in a request are added up):

* ``unknown_sku``: the order (as placed) has no such SKU.
* ``not_delivered``: no unit of that SKU has been delivered yet.
* ``window_expired``: every delivery of that SKU is past its window, or the customer asks for
  more units than they hold inside the window while they hold some outside it (whatever the
  quantity: the window comes first).
* ``quantity_exceeds_delivered``: more units than delivered minus already returned (units of
  earlier RMAs: the authorised quantity while the parcel is on its way, the received quantity
  once it arrived) minus units replaced under warranty. (More than a contract line holds
  cannot be asked: the contract caps a SKU's lines at ``MAX_QUANTITY``.)

Earlier returns are attributed to parcels, so that splitting a return into several requests
returns no more than one request would: in the order they were requested, each takes its units
from the parcels whose window was open when it was requested, the one whose window ends first
first (what leaves the most units inside their window: the reading most favourable to the
customer); units no such parcel explains (clock skew) come from the oldest parcels left.
Returnable units of a SKU = units left in the parcels whose window is still open. Replacement
shipments (warranty) are not returnable for money and are not counted.

An RMA whose parcel never came lets its units go ``return_shipping_days`` after its return-by
date (:func:`still_taken_back`); a parcel that arrives later is still received and refunded,
within the refund ceiling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from orderflow_contracts.events import ReturnRejectionCode
from orderflow_contracts.primitives import clip_text

from orderflow_returns.domain.window import ReturnWindow

# How much later than a request a parcel may be stamped delivered and still count for it: the
# storefront and the warehouse stamp with different clocks, and a customer may ask minutes
# after the courier left. More than that, the request was stamped before the parcel came.
DELIVERY_CLOCK_ALLOWANCE = timedelta(hours=1)


@dataclass(frozen=True)
class Delivery:
    """Units of one SKU that reached the customer (one shipment)."""

    sku: str
    quantity: int
    delivered_at: datetime


@dataclass(frozen=True)
class EarlierReturn:
    """Units of one SKU an earlier RMA of the order takes back, and when the customer asked."""

    sku: str
    quantity: int
    requested_at: datetime
    # The RMA's return-by date while its parcel is awaited; None once the parcel came back.
    parcel_due_by: date | None = None


@dataclass(frozen=True)
class OrderFacts:
    """What the service knows about one order when it judges a request.

    ``ordered`` is empty while ``OrderPlaced`` is unknown (events arrive in any order across
    topics); deliveries alone then show what the customer received. ``returns`` are the
    earlier returns that still take their units back (:func:`still_taken_back`).
    """

    order_placed: bool
    ordered: Mapping[str, int] = field(default_factory=dict)
    deliveries: Sequence[Delivery] = ()
    returns: Sequence[EarlierReturn] = ()
    customer_id: str | None = None
    # Units of each SKU replaced under warranty: no longer the customer's to return (a unit
    # is refunded or replaced, never both), taken from the oldest parcels.
    replaced: Mapping[str, int] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.order_placed or bool(self.deliveries)

    def delivered(self, sku: str) -> int:
        return sum(d.quantity for d in self.deliveries if d.sku == sku)

    def returned(self, sku: str) -> int:
        return sum(r.quantity for r in self.returns if r.sku == sku)

    def deliveries_of(self, sku: str) -> list[Delivery]:
        return sorted((d for d in self.deliveries if d.sku == sku), key=lambda d: d.delivered_at)

    def received_by(self, at: datetime) -> OrderFacts:
        """The facts with only the parcels delivered by ``at`` (give or take the clocks)."""
        latest = at + DELIVERY_CLOCK_ALLOWANCE
        received = tuple(d for d in self.deliveries if d.delivered_at <= latest)
        return replace(self, deliveries=received)

    def more_may_come(self, sku: str) -> bool:
        """Whether units of ``sku`` may still be delivered (or their delivery not read yet)."""
        return not self.order_placed or self.delivered(sku) < self.ordered.get(sku, 0)


@dataclass(frozen=True)
class LineProblem:
    sku: str
    code: ReturnRejectionCode
    message: str
    # A delivery not read yet could change the problem (units of the SKU still to come).
    may_await_delivery: bool = False


@dataclass(frozen=True)
class ReturnAuthorisation:
    lines: tuple[tuple[str, int], ...]
    return_by: date


@dataclass(frozen=True)
class ReturnRefusal:
    code: ReturnRejectionCode
    message: str
    problems: tuple[LineProblem, ...] = ()

    @property
    def may_await_delivery(self) -> bool:
        """Whether a delivery (or the order) not read yet could still change the answer: the
        order is unknown, a delivery could remove every problem, or its code could change."""
        if self.code == ReturnRejectionCode.UNKNOWN_ORDER:
            return True
        awaiting = [p for p in self.problems if p.may_await_delivery]
        if not awaiting:
            return False
        if len(awaiting) == len(self.problems):
            return True
        # The code comes from the lines no delivery can change. A line still awaiting one
        # could end with its present code, or (a delivery read late, outside the window)
        # window_expired; either would take over if it ranks first.
        if self.code == ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED:
            return True
        return any(_rank(p.code) < _rank(self.code) for p in awaiting)


ReturnDecision = ReturnAuthorisation | ReturnRefusal

_PRECEDENCE = (
    ReturnRejectionCode.UNKNOWN_ORDER,
    ReturnRejectionCode.UNKNOWN_SKU,
    ReturnRejectionCode.NOT_DELIVERED,
    ReturnRejectionCode.WINDOW_EXPIRED,
    ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
)


def _rank(code: ReturnRejectionCode) -> int:
    return _PRECEDENCE.index(code)


def merge_lines(lines: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Quantities per SKU, in first-seen order."""
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    return tuple(merged.items())


def still_taken_back(
    returns: Iterable[EarlierReturn],
    *,
    at: datetime,
    window: ReturnWindow,
    return_shipping_days: int,
) -> tuple[EarlierReturn, ...]:
    """The earlier returns that still hold their units at ``at``: an RMA whose parcel never
    came holds them until its return-by date plus ``return_shipping_days`` (a parcel posted on
    the last day may still be on its way), then lets the customer return or claim them again."""
    today = window.local_date(at)
    return tuple(
        r
        for r in returns
        if r.parcel_due_by is None
        or today <= r.parcel_due_by + timedelta(days=return_shipping_days)
    )


def _units_held(facts: OrderFacts, sku: str, window: ReturnWindow) -> list[tuple[Delivery, int]]:
    """Each parcel of ``sku``, oldest first, with the units of it the customer still holds once
    the earlier returns are attributed (module docstring)."""
    parcels = facts.deliveries_of(sku)  # oldest first: their windows end in that order too
    left = [parcel.quantity for parcel in parcels]
    unexplained = 0
    for earlier in sorted((r for r in facts.returns if r.sku == sku), key=lambda r: r.requested_at):
        wanted = earlier.quantity
        for i, parcel in enumerate(parcels):
            if window.is_open(parcel.delivered_at, earlier.requested_at):
                taken = min(left[i], wanted)
                left[i], wanted = left[i] - taken, wanted - taken
        unexplained += wanted
    # Units no open window explains (and units replaced under warranty, whichever parcel
    # they came from) come from the oldest parcels left, after the others, so they never take
    # a unit an explained return needed.
    unexplained += facts.replaced.get(sku, 0)
    for i in range(len(parcels)):
        taken = min(left[i], unexplained)
        left[i], unexplained = left[i] - taken, unexplained - taken
    return list(zip(parcels, left, strict=True))


def returnable_units(facts: OrderFacts, sku: str, at: datetime, window: ReturnWindow) -> int:
    """How many units of ``sku`` a request made at ``at`` may return."""
    return sum(
        left
        for parcel, left in _units_held(facts, sku, window)
        if window.is_open(parcel.delivered_at, at)
    )


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
    if not facts.known or (customer_id is not None and customer_id != facts.customer_id):
        # A request naming another customer's order is answered as if the order did not
        # exist: the answer must not reveal other customers' orders. Before the order's
        # OrderPlaced its customer is unknown, so a request naming one waits for it.
        return ReturnRefusal(
            ReturnRejectionCode.UNKNOWN_ORDER, "We have no delivered order with this id."
        )
    lines = merge_lines(requested)
    problems = [p for sku, qty in lines if (p := _line_problem(sku, qty, facts, at, window))]
    if problems:
        # The code comes from the lines no delivery can change: a line whose units may yet
        # be delivered would make it depend on which topic was read first. While such a line
        # could still change it, the refusal waits (``may_await_delivery``). (Every failed
        # line is still named, those first.)
        final = [p for p in problems if not p.may_await_delivery] or problems
        code = min((p.code for p in final), key=_rank)
        message = "; ".join(p.message for p in [*final, *(p for p in problems if p not in final)])
        return ReturnRefusal(code, clip_text(message), tuple(problems))
    return_by = window.local_date(authorised_at) + timedelta(days=return_shipping_days)
    return ReturnAuthorisation(lines, return_by)


def _line_problem(
    sku: str, quantity: int, known: OrderFacts, at: datetime, window: ReturnWindow
) -> LineProblem | None:
    if known.order_placed and sku not in known.ordered:
        return LineProblem(sku, ReturnRejectionCode.UNKNOWN_SKU, f"{sku} is not part of this order")
    # A parcel not read yet could still change the answer; one delivered after it, never.
    may_await = known.more_may_come(sku)
    facts = known.received_by(at)
    delivered = facts.delivered(sku)
    if delivered == 0:
        message = f"{sku} had not been delivered when this request was made"
        return LineProblem(sku, ReturnRejectionCode.NOT_DELIVERED, message, may_await)
    held = _units_held(facts, sku, window)
    open_now = [(parcel, left) for parcel, left in held if window.is_open(parcel.delivered_at, at)]
    returnable = sum(left for _, left in open_now)
    if quantity <= returnable:
        # (At most MAX_QUANTITY: the contract caps a SKU's lines, so the RMA can name them.)
        return None
    still_held = sum(left for _, left in held)
    if not open_now:
        last_day = window.last_day(held[-1][0].delivered_at)
        message = (
            f"{sku}: the {window.days}-day return window closed (last day {last_day.isoformat()})"
        )
        code = ReturnRejectionCode.WINDOW_EXPIRED
    elif returnable < still_held:
        # The window keeps units the customer holds: it comes first, whatever the quantity.
        message = (
            f"{sku}: {quantity} requested, only {returnable} still inside the "
            f"{window.days}-day return window"
        )
        code = ReturnRejectionCode.WINDOW_EXPIRED
    else:
        replaced = min(facts.replaced.get(sku, 0), delivered - still_held)
        message = (
            f"{sku}: {quantity} requested, {returnable} returnable ({delivered} delivered, "
            f"{delivered - still_held - replaced} already returned"
            + (f", {replaced} replaced under warranty)" if replaced else ")")
        )
        code = ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    return LineProblem(sku, code, message, may_await)

"""The system invariant check, from the event log.

It answers, after any run: is every checked-out cart exactly one order; is every order in a
final state or legitimately waiting; is anything charged and not shipped past its deadline,
shipped and not charged, refunded twice or beyond what was captured. It reads only the topics
(the shared record), never a service's schema; per-service checks that need a service's own
data (the payment ledger reconciliation, stock levels) are the services' own commands, which
:mod:`orderflow_ops.cli` runs beside this.

Events are counted once per ``event_id`` (a relay may re-publish after a crash).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orderflow_ops.event_log import LoggedEvent

FINAL_STATES = frozenset({"completed", "cancelled", "declined", "out_of_stock", "refunded"})


@dataclass(frozen=True)
class Deadlines:
    """How long an order may legitimately wait in each step before it counts as stuck."""

    payment_and_stock: timedelta = timedelta(minutes=10)
    capture: timedelta = timedelta(minutes=10)
    compensation: timedelta = timedelta(minutes=10)
    shipment: timedelta = timedelta(minutes=30)
    delivery: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class Violation:
    code: str
    subject: str  # an order id or cart id
    detail: str


@dataclass
class OrderFacts:
    order_id: str
    placed_at: datetime | None = None
    last_event_at: datetime | None = None
    total: Decimal | None = None
    currency: str | None = None
    authorised: bool = False
    declined: bool = False
    reserved: bool = False
    released: bool = False
    unavailable: bool = False
    voided: bool = False
    cancelled: bool = False
    completed: bool = False
    captures: list[Decimal] = field(default_factory=list)
    refunds: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    shipments: set[str] = field(default_factory=set)  # non-replacement shipments requested
    dispatched: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)
    replacement_shipments: set[str] = field(default_factory=set)

    @property
    def captured(self) -> Decimal:
        return sum(self.captures, Decimal(0))

    @property
    def refunded(self) -> Decimal:
        return sum((amount for amounts in self.refunds.values() for amount in amounts), Decimal(0))

    @property
    def order_shipments_dispatched(self) -> set[str]:
        return self.dispatched - self.replacement_shipments

    def state(self) -> str:
        """Where the order stands; final states are in FINAL_STATES, the rest are waits."""
        if self.completed or (self.shipments and self.shipments <= self.delivered):
            return "completed"
        if self.captures and self.refunded >= self.captured and not self.dispatched:
            return "refunded"
        if self.declined or self.unavailable or self.cancelled:
            card_settled = self.declined or self.voided  # nothing is held on the card
            stock_settled = not self.reserved or self.released or self.unavailable
            if self.captures or not (card_settled and stock_settled):
                return "awaiting_compensation"
            if self.declined:
                return "declined"
            return "out_of_stock" if self.unavailable else "cancelled"
        if self.order_shipments_dispatched:
            return "in_transit"
        if self.captures:
            return "awaiting_shipment"
        if self.authorised and self.reserved:
            return "awaiting_capture"
        return "awaiting_payment_and_stock"


@dataclass
class Report:
    orders: dict[str, OrderFacts]
    carts_checked_out: int
    violations: list[Violation]
    # Orders seen only through later events: their OrderPlaced is older than the topics'
    # retention, or belongs to another environment sharing the services. Listed, not judged.
    orphans: list[str] = field(default_factory=list)

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for facts in self.orders.values():
            counts[facts.state()] += 1
        return dict(sorted(counts.items()))

    @property
    def ok(self) -> bool:
        return not self.violations


def check(log: Sequence[LoggedEvent], *, now: datetime, deadlines: Deadlines) -> Report:
    orders: dict[str, OrderFacts] = {}
    orders_of_cart: dict[str, set[str]] = defaultdict(set)
    refund_events: dict[str, set[str]] = defaultdict(set)
    capture_events: dict[str, set[str]] = defaultdict(set)
    violations: list[Violation] = []

    for event_type, data, occurred_at, event_id in _unique_facts(log):
        order_id = data.get("order_id")
        if event_type == "CartCheckedOut":
            orders_of_cart[str(data["cart_id"])].add(str(order_id))
        if order_id is None:
            continue
        facts = orders.setdefault(str(order_id), OrderFacts(str(order_id)))
        if occurred_at is not None and (
            facts.last_event_at is None or occurred_at > facts.last_event_at
        ):
            facts.last_event_at = occurred_at
        _apply(facts, event_type, data, occurred_at)
        if event_type == "PaymentCaptured":
            capture_events[str(order_id)].add(event_id)
        if event_type == "RefundIssued":
            refund_events[str(data["refund_id"])].add(event_id)

    for cart_id, order_ids in sorted(orders_of_cart.items()):
        if len(order_ids) != 1:
            violations.append(
                Violation("cart_with_several_orders", cart_id, f"orders {sorted(order_ids)}")
            )
        for order_id in order_ids:
            if order_id not in orders or orders[order_id].placed_at is None:
                violations.append(
                    Violation("checked_out_without_order", cart_id, f"no OrderPlaced {order_id}")
                )
    for refund_id, event_ids in sorted(refund_events.items()):
        if len(event_ids) > 1:
            violations.append(
                Violation("refunded_twice", refund_id, f"{len(event_ids)} RefundIssued events")
            )
    orphans = sorted(order_id for order_id, facts in orders.items() if facts.placed_at is None)
    for order_id in orphans:
        del orders[order_id]
    for order_id, facts in sorted(orders.items()):
        violations.extend(_order_violations(facts, now=now, deadlines=deadlines))
        if len(capture_events[order_id]) > 1:
            violations.append(
                Violation("captured_twice", order_id, f"{len(capture_events[order_id])} captures")
            )
    return Report(orders, len(orders_of_cart), violations, orphans)


def _apply(facts: OrderFacts, event_type: str, data: dict[str, Any], at: datetime | None) -> None:
    if event_type == "OrderPlaced":
        facts.placed_at = at
        facts.total = Decimal(data["total"]["amount"])
        facts.currency = data["total"]["currency"]
    elif event_type == "PaymentAuthorized":
        facts.authorised = True
    elif event_type == "PaymentDeclined":
        facts.declined = True
    elif event_type == "PaymentCaptured":
        facts.captures.append(Decimal(data["amount"]["amount"]))
    elif event_type == "PaymentVoided":
        facts.voided = True
    elif event_type == "RefundIssued":
        facts.refunds[str(data["refund_id"])].append(Decimal(data["amount"]["amount"]))
    elif event_type == "StockReserved":
        facts.reserved = True
    elif event_type == "ReservationReleased":
        facts.released = True
    elif event_type == "StockUnavailable":
        facts.unavailable = True
    elif event_type == "OrderCancelled":
        facts.cancelled = True
    elif event_type == "OrderCompleted":
        facts.completed = True
    elif event_type == "FulfillmentRequested":
        if data.get("replacement"):
            facts.replacement_shipments.add(str(data["shipment_id"]))
        else:
            facts.shipments.add(str(data["shipment_id"]))
    elif event_type == "ShipmentDispatched":
        facts.dispatched.add(str(data["shipment_id"]))
    elif event_type == "ShipmentDelivered":
        facts.delivered.add(str(data["shipment_id"]))


def _order_violations(facts: OrderFacts, *, now: datetime, deadlines: Deadlines) -> list[Violation]:
    found: list[Violation] = []
    order_id = facts.order_id
    if facts.refunded > facts.captured:
        found.append(
            Violation(
                "refunded_over_captured",
                order_id,
                f"refunded {facts.refunded} > captured {facts.captured} {facts.currency}",
            )
        )
    if facts.captures and facts.total is not None and facts.captured != facts.total:
        found.append(
            Violation(
                "capture_differs_from_total",
                order_id,
                f"captured {facts.captured} for a total of {facts.total} {facts.currency}",
            )
        )
    if facts.order_shipments_dispatched and not facts.captures:
        found.append(Violation("shipped_not_charged", order_id, "dispatched without a capture"))
    state = facts.state()
    if state in FINAL_STATES:
        return found
    waited = now - (facts.last_event_at or facts.placed_at or now)
    limit = {
        "awaiting_payment_and_stock": deadlines.payment_and_stock,
        "awaiting_capture": deadlines.capture,
        "awaiting_compensation": deadlines.compensation,
        "awaiting_shipment": deadlines.shipment,
        "in_transit": deadlines.delivery,
    }[state]
    if waited > limit:
        code = "charged_not_shipped" if state == "awaiting_shipment" else "stuck"
        found.append(
            Violation(code, order_id, f"{state} for {_human(waited)} (limit {_human(limit)})")
        )
    return found


def _unique_facts(
    log: Iterable[LoggedEvent],
) -> Iterable[tuple[str, dict[str, Any], datetime | None, str]]:
    seen: set[str] = set()
    for event in sorted(log, key=lambda e: (e.occurred_at is None, e.occurred_at or 0, e.offset)):
        if event.envelope is None or event.dead_letter:
            continue
        event_id = str(event.envelope.event_id)
        if event_id in seen:
            continue
        seen.add(event_id)
        yield event.envelope.event_type, dict(event.envelope.data), event.occurred_at, event_id


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"


def render(report: Report) -> str:
    lines = [
        f"carts checked out: {report.carts_checked_out}",
        f"orders: {len(report.orders)}",
    ]
    lines += [f"  {state:<28} {count}" for state, count in report.states().items()]
    if report.orphans:
        lines.append(
            f"not judged: {len(report.orphans)} order(s) whose OrderPlaced is not in the log "
            "(older than the topics' retention, or from another environment)"
        )
    if report.violations:
        lines.append(f"VIOLATIONS: {len(report.violations)}")
        lines += [f"  {v.code:<28} {v.subject}  {v.detail}" for v in report.violations]
    else:
        lines.append("no violations")
    return "\n".join(lines)

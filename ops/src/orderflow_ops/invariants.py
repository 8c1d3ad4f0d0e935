"""The system invariant check, from the event log.

It answers, after any run: is every checked-out cart exactly one order; is every order in a
final state or legitimately waiting; is anything charged and not shipped past its deadline,
shipped and not charged, refunded twice or beyond what was captured. It reads only the topics
(the shared record), never a service's schema; per-service checks that need a service's own
data (the payment ledger reconciliation, stock levels) are the services' own commands, which
:mod:`orderflow_ops.cli` runs beside this.

Events are counted once per ``event_id`` (a relay may re-publish after a crash). Only events
that pass the contract are judged; any other record on the topics is counted and listed as
unreadable (see :mod:`orderflow_ops.event_log`), never a reason to stop checking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from orderflow_contracts.card_data import redact_card_numbers
from orderflow_contracts.events import (
    CartCheckedOut,
    CheckoutRejected,
    CheckoutRequested,
    Event,
    FulfillmentRequested,
    OrderCancelled,
    OrderCompleted,
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    RefundIssued,
    ReservationReleased,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
    StockUnavailable,
)

from orderflow_ops.event_log import LoggedEvent

UNREADABLE_SHOWN = 10  # unreadable records listed by position; the rest are only counted

FINAL_STATES = frozenset({"completed", "cancelled", "declined", "out_of_stock", "refunded"})


@dataclass(frozen=True)
class Deadlines:
    """How long an order may legitimately wait in each step before it counts as stuck."""

    payment_and_stock: timedelta = timedelta(minutes=10)
    capture: timedelta = timedelta(minutes=10)
    compensation: timedelta = timedelta(minutes=10)
    shipment: timedelta = timedelta(minutes=30)
    delivery: timedelta = timedelta(hours=2)
    checkout_answer: timedelta = timedelta(minutes=1)  # the settle window of a checkout


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
            # Nothing is held on the card: declined, voided, or never authorised at all.
            card_settled = self.declined or self.voided or not self.authorised
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
    records_read: int = 0
    unreadable: list[LoggedEvent] = field(default_factory=list)
    dead_letters: int = 0
    checkouts_requested: int = 0

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
    checkouts: list[tuple[CheckoutRequested, datetime, str]] = []
    answered: set[str] = set()  # event ids of checkout requests that got an answer
    violations: list[Violation] = []

    for event, occurred_at, event_id, causation_id in _unique_facts(log):
        if isinstance(event, CheckoutRequested):
            checkouts.append((event, occurred_at, event_id))
        if isinstance(event, CartCheckedOut | CheckoutRejected) and causation_id is not None:
            answered.add(causation_id)
        if isinstance(event, CartCheckedOut):
            orders_of_cart[event.cart_id].add(str(event.order_id))
        order_id = getattr(event, "order_id", None)
        if order_id is None:
            continue
        facts = orders.setdefault(str(order_id), OrderFacts(str(order_id)))
        if facts.last_event_at is None or occurred_at > facts.last_event_at:
            facts.last_event_at = occurred_at
        apply_fact(facts, event, occurred_at)
        if isinstance(event, PaymentCaptured):
            capture_events[str(order_id)].add(event_id)
        if isinstance(event, RefundIssued):
            refund_events[str(event.refund_id)].add(event_id)

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
    answered |= _dead_lettered_event_ids(log)  # refused with a reason: answered, not lost
    for request, requested_at, event_id in checkouts:
        waited = now - requested_at
        if event_id not in answered and waited > deadlines.checkout_answer:
            violations.append(
                Violation(
                    "checkout_unanswered",
                    request.cart_id,
                    f"CheckoutRequested {event_id} has had no CartCheckedOut or "
                    f"CheckoutRejected for {_human(waited)} "
                    f"(limit {_human(deadlines.checkout_answer)})",
                )
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
        violations.extend(order_violations(facts, now=now, deadlines=deadlines))
        if len(capture_events[order_id]) > 1:
            violations.append(
                Violation("captured_twice", order_id, f"{len(capture_events[order_id])} captures")
            )
    return Report(
        orders,
        len(orders_of_cart),
        violations,
        orphans,
        records_read=len(log),
        unreadable=[record for record in log if record.unreadable is not None],
        dead_letters=sum(1 for record in log if record.is_dead_letter_topic),
        checkouts_requested=len(checkouts),
    )


def apply_fact(facts: OrderFacts, event: Event, at: datetime) -> None:
    if isinstance(event, OrderPlaced):
        facts.placed_at = at
        facts.total = event.total.amount
        facts.currency = str(event.total.currency)
    elif isinstance(event, PaymentAuthorized):
        facts.authorised = True
    elif isinstance(event, PaymentDeclined):
        facts.declined = True
    elif isinstance(event, PaymentCaptured):
        facts.captures.append(event.amount.amount)
    elif isinstance(event, PaymentVoided):
        facts.voided = True
    elif isinstance(event, RefundIssued):
        facts.refunds[str(event.refund_id)].append(event.amount.amount)
    elif isinstance(event, StockReserved):
        facts.reserved = True
    elif isinstance(event, ReservationReleased):
        facts.released = True
    elif isinstance(event, StockUnavailable):
        facts.unavailable = True
    elif isinstance(event, OrderCancelled):
        facts.cancelled = True
    elif isinstance(event, OrderCompleted):
        facts.completed = True
    elif isinstance(event, FulfillmentRequested):
        if event.replacement:
            facts.replacement_shipments.add(str(event.shipment_id))
        else:
            facts.shipments.add(str(event.shipment_id))
    elif isinstance(event, ShipmentDispatched):
        facts.dispatched.add(str(event.shipment_id))
    elif isinstance(event, ShipmentDelivered):
        facts.delivered.add(str(event.shipment_id))


def order_violations(facts: OrderFacts, *, now: datetime, deadlines: Deadlines) -> list[Violation]:
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
) -> Iterable[tuple[Event, datetime, str, str | None]]:
    """Readable events, once per event id, in time order: (event, occurred_at, event_id,
    causation_id)."""
    seen: set[str] = set()
    readable = [
        (record.envelope, record.event)
        for record in log
        if record.envelope is not None and record.event is not None and not record.dead_letter
    ]
    readable.sort(key=lambda pair: pair[0].occurred_at)
    for envelope, event in readable:
        event_id = str(envelope.event_id)
        if event_id in seen:
            continue
        seen.add(event_id)
        yield event, envelope.occurred_at, event_id, envelope.causation_id


def _dead_lettered_event_ids(log: Iterable[LoggedEvent]) -> set[str]:
    ids: set[str] = set()
    for record in log:
        if not (record.dead_letter or record.is_dead_letter_topic):
            continue
        stated = (
            str(record.envelope.event_id) if record.envelope else (record.raw or {}).get("event_id")
        )
        if isinstance(stated, str):
            ids.add(stated)
    return ids


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"


def render(report: Report) -> str:
    lines = [
        f"event log: {report.records_read} record(s) read, {len(report.unreadable)} "
        f"unreadable, {report.dead_letters} dead letter(s)",
        f"checkouts requested: {report.checkouts_requested}",
        f"carts checked out: {report.carts_checked_out}",
        f"orders checked: {len(report.orders)}",
    ]
    lines += [f"  {state:<28} {count}" for state, count in report.states().items()]
    if report.orphans:
        lines.append(
            f"not judged: {len(report.orphans)} order(s) whose OrderPlaced is not in the log "
            "(older than the topics' retention, or from another environment)"
        )
    if report.unreadable:
        lines.append(
            f"unreadable: {len(report.unreadable)} record(s) are not events of the contract "
            "(counted, not judged; the services dead-letter them):"
        )
        lines += [
            f"  {record.position}  {_one_line(record.unreadable or '')}"
            for record in report.unreadable[:UNREADABLE_SHOWN]
        ]
        if len(report.unreadable) > UNREADABLE_SHOWN:
            lines.append(f"  ... and {len(report.unreadable) - UNREADABLE_SHOWN} more")
    if report.violations:
        lines.append(f"VIOLATIONS: {len(report.violations)}")
        # Subjects and details quote ids read from the topics: redacted like any record text.
        lines += [
            f"  {v.code:<28} {redact_card_numbers(v.subject)}  {redact_card_numbers(v.detail)}"
            for v in report.violations
        ]
    elif not report.orders and not report.checkouts_requested:
        lines.append("nothing to check: no order or checkout in the log")
    else:
        lines.append(
            f"no violations in {len(report.orders)} order(s) and "
            f"{report.checkouts_requested} checkout request(s)"
        )
    return "\n".join(lines)


def _one_line(text: str, limit: int = 160) -> str:
    # Why a record is unreadable can quote it (an unknown event type, a key). Redacted after
    # the whitespace is joined, which can make "4111\t1111\t1111\t1111" a grouped card
    # number, and before the cut, which could keep most of one.
    flat = redact_card_numbers(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

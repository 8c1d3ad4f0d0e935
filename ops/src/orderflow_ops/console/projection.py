"""What one event changes in the console's read model, decided without a database.

The order rules are those of ``orderflow-ops check`` (:mod:`orderflow_ops.invariants`): an
order's facts are folded with :func:`~orderflow_ops.invariants.apply_fact`, its state is
``OrderFacts.state()``, and the rules that hold whatever the time (over-refund, capture
different from the total, shipped and not charged, captured twice) are
:func:`~orderflow_ops.invariants.order_violations` evaluated at the order's last event, so the
time-dependent ones (stuck past a deadline) are left to the monitor, which knows the time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCheckedOut,
    CheckoutRejected,
    CheckoutRequested,
    Event,
    RefundIssued,
)
from orderflow_contracts.primitives import parse_uuid

from orderflow_ops.invariants import Deadlines, OrderFacts, apply_fact, order_violations
from orderflow_ops.timeline import collect_link_ids

# The overview's pipeline stages, in the order an order goes through them: stage -> the
# event types that count for it.
STAGES: dict[str, tuple[str, ...]] = {
    "checkouts": ("CheckoutRequested",),
    "placed": ("OrderPlaced",),
    "authorised": ("PaymentAuthorized",),
    "captured": ("PaymentCaptured",),
    "fulfillment requested": ("FulfillmentRequested",),
    "shipped": ("ShipmentDispatched",),
    "delivered": ("ShipmentDelivered",),
    "completed": ("OrderCompleted",),
    "cancelled": ("OrderCancelled",),
    "returns": ("ReturnRequested",),
    "refunds": ("RefundIssued",),
    "warranty": ("WarrantyClaimFiled",),
}
STAGE_OF_EVENT_TYPE = {
    event_type: stage for stage, event_types in STAGES.items() for event_type in event_types
}


def stage_of(event_type: str) -> str | None:
    return STAGE_OF_EVENT_TYPE.get(event_type)


def link_ids(envelope: Envelope) -> set[str]:
    """The order-related ids an event names (the timeline's rule): its order, cart,
    shipments, RMAs, claims, payments and refunds, and its aggregate id when it names any."""
    ids = set(collect_link_ids(envelope.data))
    if ids:
        ids.add(envelope.aggregate_id)
    return ids


@dataclass(frozen=True)
class OrderView:
    """An order's row in the read model after an event."""

    order_id: str
    state: str
    placed_at: datetime | None
    last_event_at: datetime
    total: Decimal | None
    currency: str | None
    violations: tuple[str, ...]
    facts: OrderFacts


def order_id_of(event: Event) -> str | None:
    order_id = getattr(event, "order_id", None)
    return None if order_id is None else str(order_id)


def apply_to_order(facts: OrderFacts, event: Event, occurred_at: datetime) -> OrderView:
    """Fold ``event`` into the order's ``facts`` (mutated) and say how the order stands."""
    fold_into_order(facts, event, occurred_at)
    return order_view(facts)


def fold_into_order(facts: OrderFacts, event: Event, occurred_at: datetime) -> None:
    """Fold ``event`` into the order's ``facts`` (mutated); several events of a batch are
    folded before the order is judged once (:func:`order_view`)."""
    if facts.last_event_at is None or occurred_at > facts.last_event_at:
        facts.last_event_at = occurred_at
    apply_fact(facts, event, occurred_at)


def order_view(facts: OrderFacts) -> OrderView:
    """How the order stands after its facts so far (at least one event folded)."""
    last = facts.last_event_at
    if last is None:
        raise ValueError(f"order {facts.order_id} has no event folded yet")
    violations: list[str] = []
    if facts.placed_at is not None:  # like `check`, an order without its OrderPlaced is not judged
        at_last_event = order_violations(facts, now=last, deadlines=Deadlines())
        violations = [violation.code for violation in at_last_event]
        if len(facts.captures) > 1:  # each capture event is applied once (the inbox)
            violations.append("captured_twice")
    return OrderView(
        order_id=facts.order_id,
        state=facts.state(),
        placed_at=facts.placed_at,
        last_event_at=last,
        total=facts.total,
        currency=facts.currency,
        violations=tuple(violations),
        facts=facts,
    )


@dataclass(frozen=True)
class CheckoutFact:
    """A checkout request (``requested``) or its answer (``answered``), by request event id."""

    request_event_id: str
    cart_id: str | None
    requested_at: datetime | None
    answered_at: datetime | None


def checkout_fact(
    event: Event, envelope: Envelope, occurred_at: datetime | None = None
) -> CheckoutFact | None:
    """A checkout request's or answer's fact, at ``occurred_at`` (the read model's time for the
    event: its own, unless that is far ahead) or else the envelope's."""
    at = occurred_at or envelope.occurred_at
    if isinstance(event, CheckoutRequested):
        return CheckoutFact(str(envelope.event_id), event.cart_id, at, None)
    if not isinstance(event, CartCheckedOut | CheckoutRejected) or not envelope.causation_id:
        return None
    # The answer names its request by event id, a UUID; any other causation (the contract
    # allows any token) answers no checkout the read model can know.
    request = parse_uuid(envelope.causation_id)
    if request is None:
        return None
    return CheckoutFact(str(request), event.cart_id, None, at)


def refund_id_of(event: Event) -> str | None:
    return str(event.refund_id) if isinstance(event, RefundIssued) else None


# --- OrderFacts as JSON data (the read model keeps them to fold the next event in) --------

_SETS = ("shipments", "dispatched", "delivered", "replacement_shipments")
_FLAGS = (
    "authorised",
    "declined",
    "reserved",
    "released",
    "unavailable",
    "voided",
    "cancelled",
    "completed",
)


def facts_to_data(facts: OrderFacts) -> dict[str, Any]:
    return {
        "placed_at": _time(facts.placed_at),
        "last_event_at": _time(facts.last_event_at),
        "total": None if facts.total is None else str(facts.total),
        "currency": facts.currency,
        **{flag: getattr(facts, flag) for flag in _FLAGS},
        "captures": [str(amount) for amount in facts.captures],
        "refunds": {key: [str(a) for a in amounts] for key, amounts in facts.refunds.items()},
        **{name: sorted(getattr(facts, name)) for name in _SETS},
    }


def facts_from_data(order_id: str, data: dict[str, Any]) -> OrderFacts:
    facts = OrderFacts(order_id)
    facts.placed_at = _parse_time(data.get("placed_at"))
    facts.last_event_at = _parse_time(data.get("last_event_at"))
    facts.total = None if data.get("total") is None else Decimal(data["total"])
    facts.currency = data.get("currency")
    for flag in _FLAGS:
        setattr(facts, flag, bool(data.get(flag)))
    facts.captures = [Decimal(amount) for amount in data.get("captures", [])]
    refunds: defaultdict[str, list[Decimal]] = defaultdict(list)
    for refund_id, amounts in data.get("refunds", {}).items():
        refunds[refund_id] = [Decimal(amount) for amount in amounts]
    facts.refunds = refunds
    for name in _SETS:
        setattr(facts, name, set(data.get(name, [])))
    return facts


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None

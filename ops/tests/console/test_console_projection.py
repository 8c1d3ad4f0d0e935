"""The console's projection: the order rules of ``orderflow-ops check``, folded per event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_event
from orderflow_ops.console.projection import (
    OrderView,
    apply_to_order,
    checkout_fact,
    facts_from_data,
    facts_to_data,
    link_ids,
    stage_of,
)
from orderflow_ops.invariants import OrderFacts

AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ORDER = "5f0c6a8e-3c1b-4d7e-9a52-0b6f1d2e3a4b"  # the examples' order


def _fold(facts: OrderFacts, event_type: str, minute: int, **changes: object) -> OrderView:
    event = example_event(event_type)
    if changes:
        event = type(event).model_validate({**event.model_dump(mode="json"), **changes})
    return apply_to_order(facts, event, AT + timedelta(minutes=minute))


def test_an_order_moves_through_the_states_check_gives_it() -> None:
    facts = OrderFacts(ORDER)
    states = []
    for minute, event_type in enumerate(
        [
            "OrderPlaced",
            "PaymentAuthorized",
            "StockReserved",
            "PaymentCaptured",
            "FulfillmentRequested",
            "ShipmentDispatched",
            "OrderCompleted",
        ]
    ):
        view = _fold(facts, event_type, minute)
        states.append(view.state)
    assert states == [
        "awaiting_payment_and_stock",
        "awaiting_payment_and_stock",
        "awaiting_capture",
        "awaiting_shipment",
        "awaiting_shipment",
        "in_transit",
        "completed",
    ]


def test_events_arriving_before_the_order_placed_are_kept_and_not_judged() -> None:
    facts = OrderFacts(ORDER)
    early = _fold(facts, "PaymentCaptured", 5, amount={"amount": "1.00", "currency": "EUR"})
    assert early.placed_at is None
    assert early.violations == ()
    placed = _fold(facts, "OrderPlaced", 1)
    # Once placed, the capture that differs from the total is a violation, and the last event
    # is still the later capture, whatever order they arrived in.
    assert placed.violations == ("capture_differs_from_total",)
    assert placed.last_event_at == AT + timedelta(minutes=5)


def test_a_second_capture_is_captured_twice() -> None:
    facts = OrderFacts(ORDER)
    _fold(facts, "OrderPlaced", 0)
    _fold(facts, "PaymentCaptured", 1)
    view = _fold(facts, "PaymentCaptured", 2)
    assert "captured_twice" in view.violations


def test_waiting_is_never_judged_when_folding_only_by_the_monitor() -> None:
    facts = OrderFacts(ORDER)
    view = _fold(facts, "OrderPlaced", 0)
    assert view.violations == ()  # no "stuck" at fold time


def test_facts_survive_their_json_form_exactly() -> None:
    facts = OrderFacts(ORDER)
    for minute, event_type in enumerate(["OrderPlaced", "PaymentCaptured", "RefundIssued"]):
        _fold(facts, event_type, minute)
    restored = facts_from_data(ORDER, facts_to_data(facts))
    assert restored == facts
    assert restored.total == Decimal("55.44")
    assert restored.state() == facts.state()


def test_links_stages_and_checkout_answers() -> None:
    request = Envelope.wrap(
        example_event("CheckoutRequested"), producer="storefront", correlation_id="c"
    )
    answer = Envelope.wrap(
        example_event("CartCheckedOut"),
        producer="cart",
        correlation_id="c",
        causation_id=str(request.event_id),
    )
    asked = checkout_fact(request.parse_event(), request)
    answered = checkout_fact(answer.parse_event(), answer)
    assert asked is not None
    assert answered is not None
    assert asked.request_event_id == answered.request_event_id == str(request.event_id)
    assert asked.answered_at is None
    assert answered.answered_at is not None
    assert {"cart-42", ORDER} <= link_ids(answer)
    assert stage_of("PaymentCaptured") == "captured"
    assert stage_of("CartItemAdded") is None


def test_an_answer_whose_causation_is_no_event_id_answers_no_checkout() -> None:
    # Review (helper 131): the contract allows any token as a causation id; bound as a UUID
    # it failed the read model's batch, and the valid answer was dead-lettered.
    answer = Envelope.wrap(
        example_event("CheckoutRejected"),
        producer="cart",
        correlation_id="c",
        causation_id="req-42",
    )
    assert checkout_fact(answer.parse_event(), answer) is None
    upper = str(uuid.uuid4()).upper()
    spelled = Envelope.wrap(
        example_event("CartCheckedOut"), producer="cart", correlation_id="c", causation_id=upper
    )
    fact = checkout_fact(spelled.parse_event(), spelled)
    assert fact is not None
    assert fact.request_event_id == upper.lower()  # merged with its request's own spelling

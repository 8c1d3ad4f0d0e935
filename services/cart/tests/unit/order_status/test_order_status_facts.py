"""The order-status reducer and view: the same events give the same status in any order."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Sequence
from datetime import date, timedelta

from orderflow_cart.order_status.domain.facts import apply
from orderflow_cart.order_status.domain.order_facts import OrderFacts, Outcome
from orderflow_cart.order_status.domain.status import OrderState, OrderStatus, Reason
from orderflow_cart.order_status.domain.view import order_view
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import RefundFailed, ReturnRefundStopped, ReturnRejected

from services.cart.tests.order_events import T0, OrderJourney, build, envelopes, eur


def replay(journey: OrderJourney, applied: Sequence[Envelope]) -> OrderFacts:
    facts = OrderFacts(order_id=journey.order_id)
    for envelope in applied:
        facts = apply(
            facts,
            envelope.parse_event(),
            occurred_at=envelope.occurred_at,
            event_id=envelope.event_id,
        )
    return facts


def status(journey: OrderJourney, applied: Sequence[Envelope]) -> OrderStatus:
    return order_view(replay(journey, applied))


def states_along(journey: OrderJourney, applied: Sequence[Envelope]) -> list[OrderState]:
    return [status(journey, applied[: n + 1]).state for n in range(len(applied))]


def test_every_permutation_of_a_journeys_key_events_gives_the_same_status() -> None:
    journey = OrderJourney("perm")
    key_events = envelopes(
        [
            journey.placed(),
            journey.captured(),
            journey.requested(0),
            journey.dispatched(0),
            journey.delivered(0),
            journey.completed(),
        ]
    )
    expected = status(journey, key_events)
    assert expected.state == OrderState.COMPLETED
    for permutation in itertools.permutations(key_events):  # 720 orders of arrival
        assert status(journey, permutation) == expected, [e.event_type for e in permutation]


def test_shuffled_cross_topic_arrival_of_a_whole_journey_gives_the_same_status() -> None:
    journey = OrderJourney("shuffle")
    events = envelopes(journey.everything())
    expected_facts = replay(journey, events)
    expected = order_view(expected_facts)
    assert expected.state == OrderState.PARTIALLY_REFUNDED
    rng = random.Random(14)
    for _ in range(200):
        shuffled = rng.sample(events, len(events))
        assert replay(journey, shuffled) == expected_facts, [e.event_type for e in shuffled]
        assert status(journey, shuffled) == expected


def test_an_event_applied_twice_changes_nothing() -> None:
    journey = OrderJourney("twice")
    events = envelopes(journey.everything())
    doubled = [envelope for envelope in events for _ in range(2)]
    assert replay(journey, doubled) == replay(journey, events)


def test_a_happy_path_goes_placed_paid_shipped_delivered_completed() -> None:
    journey = OrderJourney("happy")
    assert states_along(journey, envelopes(journey.happy_path())) == [
        OrderState.PLACED,  # OrderPlaced
        OrderState.PLACED,  # CartCheckedOut
        OrderState.PLACED,  # PaymentAuthorized
        OrderState.PLACED,  # StockReserved
        OrderState.PAID,
        OrderState.PAID,  # FulfillmentRequested
        OrderState.SHIPPED,
        OrderState.DELIVERED,
        OrderState.COMPLETED,
    ]
    final = status(journey, envelopes(journey.happy_path()))
    assert final.amounts is not None
    assert (final.amounts.captured, final.amounts.refunded) == (journey.total, eur("0.00"))
    (shipment,) = final.shipments
    assert (shipment.carrier, shipment.tracking_number) == ("DHL", "JD01460000380")
    # Delivered 4 March 2026 (UTC): returnable until 3 April, under warranty in DE 24 months.
    assert final.return_window_ends_on == date(2026, 4, 3)
    assert [line.warranty_ends_on for line in final.lines] == [date(2028, 3, 4)] * 2
    assert final.delivered_at is not None


def test_a_split_shipment_is_partially_shipped_until_both_parcels_left() -> None:
    journey = OrderJourney("split")
    states = states_along(journey, envelopes(journey.split_shipment()))
    assert OrderState.PARTIALLY_SHIPPED in states
    assert states[-1] == OrderState.COMPLETED
    # The first parcel out, before the warehouse's shipment request of the second is seen:
    # the reservation already says two warehouses, so it is only partially shipped.
    early = [journey.placed(), journey.reserved(split=True), journey.dispatched(0)]
    assert status(journey, envelopes(early)).state == OrderState.PARTIALLY_SHIPPED


def test_a_declined_payment_cancels_with_the_reason_and_no_card_data_is_shown() -> None:
    journey = OrderJourney("declined")
    events = envelopes(
        [
            journey.placed(),
            journey.declined(),
            journey.cancelled("payment_declined", "payment declined: insufficient funds"),
        ]
    )
    final = status(journey, events)
    assert final.state == OrderState.CANCELLED
    assert final.cancellation is not None
    assert final.cancellation.code == "payment_declined"
    assert final.payment is not None
    assert final.payment.status == "declined"
    assert (final.payment.card_brand, final.payment.card_last4) == ("visa", "4242")
    shown = final.model_dump_json()
    assert "tok_visa_approve" not in shown
    assert "expiry" not in shown


def test_a_refund_read_before_its_capture_never_shows_more_refunded_than_captured() -> None:
    journey = OrderJourney("refund-first")
    events = envelopes([journey.placed(), journey.refund_issued()])
    early = status(journey, events)
    assert early.amounts is not None
    assert early.amounts.refunded == eur("0.00")
    assert early.state == OrderState.PLACED
    later = status(journey, [*events, *envelopes([journey.captured()])])
    assert later.amounts is not None
    assert later.amounts.refunded == eur("9.19")
    assert later.state == OrderState.PARTIALLY_REFUNDED


def test_a_return_whose_failed_refund_is_retried_shows_the_retry_waiting() -> None:
    # ops retry a failed refund under a new refund id (orderflow-returns retry-refund): until
    # payment answers it, the return is waiting for its refund, not failed.
    journey = OrderJourney("refund-retry")
    failed = build(
        RefundFailed,
        order_id=journey.order_id,
        refund_id=journey.refund_id,
        amount=eur("9.19"),
        reason_code="provider_unavailable",
        message="the provider did nothing",
        rma_id=journey.rma_id,
    )
    retry = journey.refund_requested().model_copy(update={"refund_id": uuid.uuid4()})
    events = envelopes(
        [*journey.happy_path(), journey.return_authorized(), journey.refund_requested(), failed]
    )
    [first] = status(journey, events).returns
    assert first.status == "refund_failed"

    [second] = status(
        journey, [*events, *envelopes([retry], start=T0 + timedelta(hours=1))]
    ).returns
    assert second.status == "refund_requested"


def test_a_refund_asked_again_under_its_own_id_shows_waiting_until_its_second_answer() -> None:
    # returns asks again under the same refund id after provider_unavailable: the first
    # answer must not hide the request waiting for its own, whichever topic is read first.
    journey = OrderJourney("refund-same-id")

    def failed(message: str) -> RefundFailed:
        return build(
            RefundFailed,
            order_id=journey.order_id,
            refund_id=journey.refund_id,
            amount=eur("9.19"),
            reason_code="provider_unavailable",
            message=message,
            rma_id=journey.rma_id,
        )

    start = [*journey.happy_path(), journey.return_authorized()]
    asked, first, again = journey.refund_requested(), failed("first"), journey.refund_requested()
    shown_waiting = status(journey, envelopes([*start, asked, first, again]))
    [waiting] = shown_waiting.returns
    assert waiting.status == "refund_requested"
    assert [r.status for r in shown_waiting.refunds] == ["requested"]
    for order in ([asked, first, again, failed("second")], [asked, first, failed("second"), again]):
        [shown] = status(journey, envelopes([*start, *order])).returns
        assert shown.status == "refund_failed"


def test_a_return_whose_refund_returns_stopped_shows_why_and_a_retry_clears_it() -> None:
    journey = OrderJourney("refund-stopped")
    stopped = build(
        ReturnRefundStopped,
        order_id=journey.order_id,
        rma_id=journey.rma_id,
        reason_code="exceeds_paid",
        message="refund of 9.19 EUR would exceed what is left to refund (0.00 EUR)",
    )
    events = envelopes([*journey.happy_path(), journey.return_authorized(), stopped])
    [shown] = status(journey, events).returns
    assert (shown.status, shown.refund_stopped) == (
        "refund_failed",
        Reason(code="exceeds_paid", message=stopped.message),
    )
    for permutation in itertools.permutations(events[-2:]):
        assert status(journey, [*events[:-2], *permutation]).returns == [shown]

    # ops retry it (orderflow-returns retry-refund): the retry waits, then is paid.
    retried = [*events, *envelopes([journey.refund_requested()], start=T0 + timedelta(hours=1))]
    [waiting] = status(journey, retried).returns
    assert (waiting.status, waiting.refund_stopped) == ("refund_requested", None)
    paid = [*retried, *envelopes([journey.refund_issued()], start=T0 + timedelta(hours=2))]
    assert status(journey, paid).returns[0].status == "refunded"


def test_a_return_with_nothing_to_refund_is_shown_closed_in_any_order() -> None:
    journey = OrderJourney("nothing-to-refund")
    closed = build(
        ReturnRefundStopped,
        order_id=journey.order_id,
        rma_id=journey.rma_id,
        reason_code="nothing_to_refund",
        message="the returned units leave nothing to refund",
    )
    refused = closed.model_copy(update={"reason_code": "unpriced_sku", "message": "not sold"})
    events = envelopes([*journey.happy_path(), journey.return_authorized(), refused, closed])
    [shown] = status(journey, events).returns
    assert (shown.status, shown.refund_stopped) == (
        "closed",
        Reason(code="nothing_to_refund", message=closed.message),
    )
    for permutation in itertools.permutations(events[-3:]):
        assert status(journey, [*events[:-3], *permutation]).returns == [shown]


def test_a_warranty_replacement_is_shown_without_reopening_the_order() -> None:
    journey = OrderJourney("warranty")
    events = envelopes(
        [
            *journey.happy_path(),
            journey.claim_accepted(),
            journey.replacement_requested(),
            *journey.replacement_shipment(),
        ]
    )
    final = status(journey, events)
    assert final.state == OrderState.COMPLETED
    (claim,) = final.warranty_claims
    assert (claim.status, claim.replacement_shipment_id) == (
        "accepted",
        journey.replacement_shipment_id,
    )
    replacement = next(s for s in final.shipments if s.replacement)
    assert replacement.status == "delivered"
    # The replacement counts neither as a delivery of the order nor for the return window.
    assert [line.delivered for line in final.lines] == [2, 1]
    assert final.return_window_ends_on == date(2026, 4, 3)


def test_a_request_is_shown_authorised_or_rejected_never_both() -> None:
    # Review (helper 110): a request refused as malformed (invalid_request) and then sent
    # again right was shown both authorised and rejected; a malformed copy of a request
    # already refused for a reason replaced that reason.
    journey = OrderJourney("answered-once")

    def rejected(code: str) -> ReturnRejected:
        return build(
            ReturnRejected,
            order_id=journey.order_id,
            return_request_id="return-1",
            reason_code=code,
            message=f"refused: {code}",
        )

    fixed = envelopes(
        [*journey.happy_path(), rejected("invalid_request"), journey.return_authorized()]
    )
    shown = status(journey, fixed)
    assert ([r.return_request_id for r in shown.returns], shown.return_rejections) == (
        ["return-1"],
        [],
    )
    copy_after = envelopes(
        [*journey.happy_path(), journey.return_authorized(), rejected("invalid_request")]
    )
    assert status(journey, copy_after).return_rejections == []
    decided = envelopes(
        [*journey.happy_path(), rejected("window_expired"), rejected("request_failed")]
    )
    [kept] = status(journey, decided).return_rejections
    assert kept.reason.code == "window_expired"


def test_facts_stored_with_a_request_both_authorised_and_rejected_show_it_authorised() -> None:
    # Review (helper 111): facts stored before the rule above keep both until another event.
    journey = OrderJourney("stored-both")
    events = envelopes([*journey.happy_path(), journey.return_authorized()])
    facts = replay(journey, events)
    facts.return_rejections["return-1"] = Outcome(code="invalid_request", message="refused")
    assert order_view(facts).return_rejections == []

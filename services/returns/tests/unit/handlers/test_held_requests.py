"""Requests that come before the delivery they need: held, judged again when it arrives, and
rejected only when their wait ends without it."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from orderflow_chassis.errors import TransientError
from orderflow_chassis.testing import envelope_of
from orderflow_contracts.events import (
    ReplacementRequested,
    ReturnAuthorized,
    ReturnRejected,
    WarrantyClaimAccepted,
    WarrantyClaimRejected,
)
from orderflow_contracts.policies import add_months
from orderflow_returns.handlers import held_requests, return_requests
from orderflow_returns.handlers.held_requests import (
    GIVE_UP_AFTER_FAILURES,
    RETRY_AFTER,
    judge_due_requests,
)
from orderflow_returns.handlers.order_facts import record_order_placed, record_shipment_delivered
from orderflow_returns.handlers.return_requests import request_return
from orderflow_returns.handlers.warranty import file_warranty_claim
from orderflow_returns.ports import HeldKey, HeldRequest
from prometheus_client import REGISTRY

from services.returns.tests.unit.handlers.scenario import (
    BALL,
    DELIVERED,
    POLICY,
    SPLINT,
    Order,
    Returns,
)

WAIT = timedelta(seconds=5)


def waited_for_reads() -> float | None:
    return REGISTRY.get_sample_value("orderflow_returns_held_requests_awaiting_reads_seconds")


WAITING = dataclasses.replace(POLICY, delivery_wait=WAIT)


async def test_a_request_before_its_delivery_is_authorised_when_the_delivery_arrives() -> None:
    returns = Returns(now=DELIVERED + timedelta(minutes=1), policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))

    asked = await returns.apply(
        request_return, order.return_requested([(BALL, 1)], "ret-early"), correlation_id="j-1"
    )
    assert returns.emitted.events == []  # held, not rejected
    assert list(returns.tables.held_requests) == [(order.order_id, "return", "ret-early")]

    await returns.apply(record_shipment_delivered, order.delivered(), correlation_id="j-other")

    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-early"
    [envelope] = returns.emitted.envelopes
    # Answered in the request's journey, caused by the request, not by the delivery.
    assert (envelope.correlation_id, envelope.causation_id) == ("j-1", str(asked.event_id))
    assert returns.tables.held_requests == {}
    answer = returns.tables.return_requests[(order.order_id, "ret-early")]
    assert answer.requested_at == asked.occurred_at  # judged when the customer asked


async def test_a_request_whose_wait_ends_without_a_delivery_is_rejected_then() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    asked = await returns.apply(
        request_return, order.return_requested([(BALL, 1)], "ret-never"), correlation_id="j-2"
    )

    returns.clock.advance(WAIT - timedelta(milliseconds=1))
    assert await returns.judge_due(WAITING) == 0
    returns.clock.advance(timedelta(milliseconds=1))
    assert await returns.judge_due(WAITING) == 1

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.reason_code == "not_delivered"
    [envelope] = returns.emitted.envelopes
    assert (envelope.correlation_id, envelope.causation_id) == ("j-2", str(asked.event_id))
    assert returns.tables.held_requests == {}
    assert await returns.judge_due(WAITING) == 0  # answered once


async def test_a_request_for_an_order_not_known_yet_waits_too() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-first"))
    assert returns.emitted.events == []

    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(record_shipment_delivered, order.delivered())

    assert len(returns.emitted.of_type(ReturnAuthorized)) == 1


async def test_a_delivery_of_other_units_leaves_the_request_waiting_its_first_wait() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(request_return, order.return_requested([(SPLINT, 1)], "ret-splint"))
    returns.clock.advance(timedelta(seconds=2))

    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 2)]))

    assert returns.emitted.events == []
    [held] = returns.tables.held_requests.values()
    assert held.held_until == DELIVERED + WAIT  # not restarted by the delivery
    await returns.apply(record_shipment_delivered, order.delivered(lines=[(SPLINT, 1)]))
    assert len(returns.emitted.of_type(ReturnAuthorized)) == 1


async def test_a_request_sent_again_while_held_is_answered_once() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    request = order.return_requested([(BALL, 1)], "ret-twice")
    await returns.apply(request_return, request)
    returns.clock.advance(timedelta(seconds=3))
    await returns.apply(request_return, request)  # a new event id, the same request id

    [held] = returns.tables.held_requests.values()
    assert held.held_until == DELIVERED + WAIT
    returns.clock.advance(WAIT)
    assert await returns.judge_due(WAITING) == 1
    assert len(returns.emitted.of_type(ReturnRejected)) == 1


async def test_only_a_missing_delivery_waits_other_rejections_are_at_once() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=1), policy=WAITING)
    order = Order()
    await returns.know(order)

    await returns.apply(request_return, order.return_requested([("SOCK-1", 1)], "ret-sock"))

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.reason_code == "unknown_sku"
    assert returns.tables.held_requests == {}


async def test_a_warranty_claim_before_its_delivery_is_accepted_when_it_arrives() -> None:
    delivered = DELIVERED - timedelta(days=60)  # past the return window: a warranty case
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=delivered - timedelta(days=3))
    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE", "claim-early"))
    assert returns.emitted.events == []

    await returns.apply(record_shipment_delivered, order.delivered(delivered))

    assert [type(e) for e in returns.emitted.events] == [
        WarrantyClaimAccepted,
        ReplacementRequested,
    ]


async def test_a_claim_waiting_for_its_order_is_accepted_when_the_order_arrives() -> None:
    delivered = DELIVERED - timedelta(days=60)
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_shipment_delivered, order.delivered(delivered))
    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE", "claim-no-order"))
    assert returns.emitted.events == []  # unknown_order: the address is on the OrderPlaced

    await returns.apply(record_order_placed, order.placed(), at=delivered - timedelta(days=3))

    assert len(returns.emitted.of_type(WarrantyClaimAccepted)) == 1


def _unreadable(order: Order, held_until: datetime, *, envelope_too: bool = False) -> HeldRequest:
    """A held request this version cannot read: its event (or its whole envelope, with a field
    a newer contract changed) is unknown to it."""
    envelope = envelope_of(order.return_requested([(BALL, 1)], "ret-newer"), correlation_id="j")
    newer = envelope.model_copy(update={"event_type": "ReturnRequestedV9"}).model_dump_json()
    if envelope_too:
        newer = newer.replace('"schema_version":1', '"schema_version":"2.0"')
    return HeldRequest(order.order_id, "return", "ret-newer", newer, held_until)


async def test_a_backlog_larger_than_a_round_is_judged_in_one_run() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    orders = [Order() for _ in range(5)]
    for order in orders:
        await returns.apply(request_return, order.return_requested([(BALL, 1)]))
    returns.clock.advance(WAIT)

    judged = await judge_due_requests(
        returns.transactions, reads=returns.reads, policy=WAITING, batch_size=2
    )

    assert judged == 5
    assert len(returns.emitted.of_type(ReturnRejected)) == 5
    assert returns.tables.held_requests == {}


async def test_a_request_that_cannot_be_judged_is_postponed_and_holds_up_no_other() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    stuck, other = Order(), Order()
    returns.tables.held_requests[(stuck.order_id, "return", "ret-newer")] = _unreadable(
        stuck, DELIVERED
    )
    await returns.apply(request_return, other.return_requested([(BALL, 1)], "ret-other"))
    returns.clock.advance(WAIT)

    assert (
        await judge_due_requests(
            returns.transactions, reads=returns.reads, policy=WAITING, batch_size=1
        )
        == 1
    )

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.return_request_id == "ret-other"
    [postponed] = returns.tables.held_requests.values()
    assert postponed.held_until == DELIVERED + WAIT + RETRY_AFTER


async def test_a_request_whose_judgement_keeps_failing_is_answered_request_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Review (helper 110): postponed a minute at a time for ever, the customer never told.
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    asked = await returns.apply(
        request_return, order.return_requested([(BALL, 1)], "ret-poisoned"), correlation_id="j"
    )
    returns.clock.advance(WAIT)

    async def failing(*_: object, **__: object) -> None:
        raise ValueError("a judgement this version gets wrong")

    monkeypatch.setattr(held_requests, "judge_return", failing)
    for attempt in range(1, GIVE_UP_AFTER_FAILURES):
        assert (
            await judge_due_requests(returns.transactions, reads=returns.reads, policy=WAITING) == 0
        )
        assert returns.emitted.events == [], f"still waiting after {attempt} failure(s)"
        returns.clock.advance(RETRY_AFTER)
    await judge_due_requests(returns.transactions, reads=returns.reads, policy=WAITING)

    [answer] = returns.emitted.of_type(ReturnRejected)
    assert (answer.return_request_id, answer.reason_code) == ("ret-poisoned", "request_failed")
    assert "send it again later" in answer.message
    [envelope] = returns.emitted.envelopes
    assert (envelope.correlation_id, envelope.causation_id) == ("j", str(asked.event_id))
    assert returns.tables.held_requests == {}, "set aside: not tried again"


async def test_a_request_released_and_held_again_before_the_give_up_is_not_set_aside() -> None:
    # Review (helper 117): a delivery between the tenth failure and the give-up held it
    # again, its count back at zero; the give-up answered it request_failed all the same.
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-fresh"))
    key: HeldKey = (order.order_id, "return", "ret-fresh")

    await held_requests._give_up(
        returns.transactions, key, GIVE_UP_AFTER_FAILURES, ValueError("the tenth failure")
    )

    assert returns.emitted.events == []
    assert list(returns.tables.held_requests) == [key]


async def test_an_unreadable_request_waits_for_a_version_that_reads_it_however_long() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    returns.tables.held_requests[(order.order_id, "return", "ret-newer")] = _unreadable(
        order, DELIVERED
    )
    for _ in range(GIVE_UP_AFTER_FAILURES + 2):
        await judge_due_requests(returns.transactions, reads=returns.reads, policy=WAITING)
        returns.clock.advance(RETRY_AFTER)

    assert returns.emitted.events == []
    assert list(returns.tables.held_requests) == [(order.order_id, "return", "ret-newer")]


async def test_a_held_request_whose_judgement_fails_does_not_fail_the_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its judgement raised in the delivery's handler: the ShipmentDelivered was dead-lettered
    # (handler_failed), never recorded, and every later return of the order refused.
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-poisoned"))
    key: HeldKey = (order.order_id, "return", "ret-poisoned")
    judge = return_requests.judge_return

    async def half_done_then_failing(event: Any, uow: Any, **kwargs: Any) -> None:
        await judge(event, uow, **kwargs)  # authorised, then ...
        raise ValueError("a judgement this version gets wrong")

    monkeypatch.setattr(held_requests, "judge_return", half_done_then_failing)
    await returns.apply(record_shipment_delivered, order.delivered())

    assert len(returns.tables.deliveries) == 2, "the delivery itself was recorded"
    assert returns.emitted.events == [], "what the failed judgement emitted was undone"
    assert returns.tables.rmas == {}, "... and what it wrote"
    assert list(returns.tables.held_requests) == [key]
    assert returns.tables.held_failures == {key: 1}, "its failure counts towards the give-up"

    monkeypatch.setattr(held_requests, "judge_return", judge)
    returns.clock.advance(WAIT)
    assert await judge_due_requests(returns.transactions, reads=returns.reads, policy=WAITING) == 1
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-poisoned"


async def test_a_held_request_failing_for_a_passing_reason_fails_the_delivery_for_a_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-later"))

    async def database_away(*_: object, **__: object) -> None:
        raise TransientError("the database is away")

    monkeypatch.setattr(held_requests, "judge_return", database_away)
    with pytest.raises(TransientError):  # the batch is tried again, the request with it
        await returns.apply(record_shipment_delivered, order.delivered())


@pytest.mark.parametrize("envelope_too", [False, True])
async def test_a_delivery_keeps_a_held_request_it_cannot_read_for_the_job(
    envelope_too: bool,
) -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    unreadable = _unreadable(order, DELIVERED + WAIT, envelope_too=envelope_too)
    returns.tables.held_requests[(order.order_id, "return", "ret-newer")] = unreadable

    await returns.apply(record_shipment_delivered, order.delivered())

    assert returns.emitted.events == []
    assert list(returns.tables.held_requests.values()) == [unreadable]
    assert len(returns.tables.deliveries) == 2  # the delivery itself was recorded


async def test_a_request_another_instance_answered_meanwhile_is_not_answered_again() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-raced"))
    returns.clock.advance(WAIT)
    [(key, _, _)] = await returns.transactions.repos.held_requests.due(returns.clock.now(), 10)
    await returns.transactions.repos.held_requests.take(*key)  # the other instance took it

    assert await returns.judge_due(WAITING) == 0
    assert returns.emitted.events == []


async def test_a_request_naming_a_customer_waits_for_the_order_to_check_it() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=1), policy=WAITING)
    order = Order()
    await returns.apply(record_shipment_delivered, order.delivered())  # the order not read yet
    stranger = order.return_requested([(BALL, 2)], "ret-stranger", customer_id="cust-other")
    await returns.apply(request_return, stranger)
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-owner"))
    assert returns.emitted.events == []

    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))

    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-owner"
    assert list(returns.tables.held_requests) == [(order.order_id, "return", "ret-stranger")]
    returns.clock.advance(WAIT)
    assert await returns.judge_due(WAITING) == 1
    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert (rejected.return_request_id, rejected.reason_code) == ("ret-stranger", "unknown_order")
    assert len(returns.tables.rmas) == 1


async def test_a_request_for_units_of_a_parcel_not_read_yet_waits_for_it() -> None:
    returns = Returns(now=DELIVERED + timedelta(hours=1), policy=WAITING)
    order = Order()  # 2 balls, shipped in two parcels
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 1), (SPLINT, 1)]))

    await returns.apply(request_return, order.return_requested([(BALL, 2)], "ret-both"))
    assert returns.emitted.events == []

    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 1)]))
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-both"


async def test_a_request_past_its_first_parcels_window_waits_for_a_newer_parcel() -> None:
    day_33 = DELIVERED + timedelta(days=33)
    returns = Returns(now=day_33, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 1), (SPLINT, 1)]))

    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-late"))
    assert returns.emitted.events == []

    newer = order.delivered(day_33 - timedelta(hours=2), [(BALL, 1)])
    await returns.apply(record_shipment_delivered, newer)
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-late"


async def test_too_many_units_are_refused_when_the_wait_ends_or_at_once_if_all_came() -> None:
    returns = Returns(now=DELIVERED + timedelta(hours=1), policy=WAITING)
    split, whole = Order(), Order()
    for order in (split, whole):
        await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(record_shipment_delivered, split.delivered(lines=[(BALL, 1)]))
    await returns.apply(record_shipment_delivered, whole.delivered())

    await returns.apply(request_return, split.return_requested([(BALL, 2)], "ret-split"))
    await returns.apply(request_return, whole.return_requested([(BALL, 3)], "ret-whole"))

    [at_once] = returns.emitted.of_type(ReturnRejected)
    assert (at_once.return_request_id, at_once.reason_code) == (
        "ret-whole",
        "quantity_exceeds_delivered",
    )
    returns.clock.advance(WAIT)
    assert await returns.judge_due(WAITING) == 1
    [_, after_the_wait] = returns.emitted.of_type(ReturnRejected)
    assert (after_the_wait.return_request_id, after_the_wait.reason_code) == (
        "ret-split",
        "quantity_exceeds_delivered",
    )


async def test_a_claim_for_units_of_a_parcel_not_read_yet_waits_for_it() -> None:
    delivered = DELIVERED - timedelta(days=60)  # past the return window: a warranty case
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=delivered - timedelta(days=3))
    await returns.apply(record_shipment_delivered, order.delivered(delivered, [(BALL, 1)]))

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE", "c-2", quantity=2))
    assert returns.emitted.events == []

    await returns.apply(record_shipment_delivered, order.delivered(delivered, [(BALL, 1)]))
    [accepted] = returns.emitted.of_type(WarrantyClaimAccepted)
    assert (accepted.claim_id, accepted.quantity) == ("c-2", 2)


@pytest.mark.parametrize(
    ("claimed_after", "answer"),
    [(timedelta(days=35), "within_return_window"), (timedelta(days=55), "accepted")],
)
async def test_a_claim_the_next_parcel_not_read_yet_could_change_waits_for_it(
    claimed_after: timedelta, answer: str
) -> None:
    # Review (helper 127): a claim on a split shipment was accepted at once, though the
    # second parcel, delivered before the claim and read after it, made it a return (its
    # window still open) or started a later term: the answer hung on what was read first.
    first_parcel = DELIVERED - claimed_after  # the claim is made now, DELIVERED
    second_parcel = first_parcel + timedelta(days=20)
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=first_parcel - timedelta(days=3))
    await returns.apply(record_shipment_delivered, order.delivered(first_parcel, [(BALL, 1)]))

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE", "c-split"))
    assert returns.emitted.events == [], "held while a parcel of the line may come"

    await returns.apply(record_shipment_delivered, order.delivered(second_parcel, [(BALL, 1)]))
    if answer == "accepted":
        [accepted] = returns.emitted.of_type(WarrantyClaimAccepted)
        # The term runs from the latest parcel delivered by the claim.
        assert accepted.warranty_ends_on == add_months(second_parcel.date(), 24)
    else:
        [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
        assert rejected.reason_code == answer


async def test_a_wait_that_ended_still_waits_for_the_deliveries_published_before_it() -> None:
    # The consumer was 3 records behind on the deliveries' topic when the wait ended: the
    # clock alone refused a return whose delivery was there, not read yet.
    returns = Returns(now=DELIVERED + timedelta(minutes=1), policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-behind"))
    returns.reads.published, returns.reads.applied_up_to = 8, 5
    returns.clock.advance(WAIT)

    assert await returns.judge_due(WAITING) == 0
    assert await returns.judge_due(WAITING) == 0
    assert returns.emitted.events == []
    assert returns.reads.taken == 1  # marks are taken once, when the wait ends
    returns.reads.published = 20  # published after the wait ended: not waited for

    await returns.apply(record_shipment_delivered, order.delivered())
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-behind"
    assert returns.tables.held_read_marks == {}


async def test_a_request_is_refused_once_the_consumer_read_past_its_marks() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-none"))
    returns.reads.published, returns.reads.applied_up_to = 8, 5
    returns.clock.advance(WAIT)
    assert await returns.judge_due(WAITING) == 0

    returns.reads.applied_up_to = 8

    assert await returns.judge_due(WAITING) == 1
    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.reason_code == "not_delivered"


async def test_without_marks_from_kafka_a_due_request_keeps_waiting() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-down"))
    returns.clock.advance(WAIT)
    returns.reads.unavailable = True

    with pytest.raises(ConnectionError):
        await returns.judge_due(WAITING)

    assert list(returns.tables.held_requests) == [(order.order_id, "return", "ret-down")]
    assert returns.emitted.events == []


async def test_a_fact_read_after_the_wait_ended_does_not_refuse_before_the_marks() -> None:
    # Behind on both topics: the request's OrderPlaced came after its wait ended, while its
    # delivery, published before, was still unread. Judging it then refused it for good.
    returns = Returns(now=DELIVERED + timedelta(minutes=1), policy=WAITING)
    order = Order()
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-late"))
    returns.reads.published, returns.reads.applied_up_to = 8, 5
    returns.clock.advance(WAIT)
    assert await returns.judge_due(WAITING) == 0  # marks taken, not reached

    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))

    assert returns.emitted.events == []
    key = (order.order_id, "return", "ret-late")
    assert returns.tables.held_read_marks[key] == {returns.reads.partition: 8}
    await returns.apply(record_shipment_delivered, order.delivered())
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-late"


async def test_a_request_waits_for_the_reads_however_long_and_is_counted_meanwhile() -> None:
    # A returns outage of 15 minutes: on restart the job must not give up on the reads while
    # the consumer catches up (a ceiling counted from the wait refused it unread).
    returns = Returns(now=DELIVERED, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-outage"))
    returns.reads.published, returns.reads.applied_up_to = 8, 5
    returns.clock.advance(WAIT + timedelta(minutes=15))

    assert await returns.judge_due(WAITING) == 0

    assert waited_for_reads() == 15 * 60
    assert returns.emitted.events == []
    await returns.apply(record_shipment_delivered, order.delivered())
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-outage"
    assert await returns.judge_due(WAITING) == 0
    assert waited_for_reads() == 0


async def test_kafka_away_holds_back_only_the_requests_that_need_marks() -> None:
    returns = Returns(now=DELIVERED, policy=WAITING)
    marked, unmarked = Order(), Order()
    for order in (marked, unmarked):
        await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(request_return, marked.return_requested([(BALL, 1)], "ret-marked"))
    returns.clock.advance(WAIT)
    returns.reads.applied_up_to = -1  # not reached yet
    assert await returns.judge_due(WAITING) == 0
    await returns.apply(request_return, unmarked.return_requested([(BALL, 1)], "ret-unmarked"))
    returns.clock.advance(WAIT)
    returns.reads.applied_up_to, returns.reads.unavailable = 0, True

    with pytest.raises(ConnectionError):
        await returns.judge_due(WAITING)

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.return_request_id == "ret-marked"
    assert list(returns.tables.held_requests) == [(unmarked.order_id, "return", "ret-unmarked")]


async def test_requests_waiting_for_reads_do_not_hide_the_ones_behind_them() -> None:
    # A page of requests whose marks cannot be reached yet (here: a topic recreated under the
    # service, its old end offsets never reached again) held back every later request.
    returns = Returns(now=DELIVERED, policy=WAITING)
    stuck = [Order(), Order()]
    for order in stuck:
        await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-stuck"))
    returns.clock.advance(WAIT)
    returns.reads.published, returns.reads.applied_up_to = 8, 5
    assert await returns.judge_due(WAITING, batch_size=2) == 0
    behind = Order()
    await returns.apply(request_return, behind.return_requested([(BALL, 1)], "ret-behind"))
    returns.clock.advance(WAIT)
    returns.reads.published, returns.reads.applied_up_to = 3, 3

    assert await returns.judge_due(WAITING, batch_size=2) == 1

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.return_request_id == "ret-behind"
    assert waited_for_reads() == WAIT.total_seconds()  # the stuck ones waited one more WAIT


async def test_a_request_stamped_ahead_of_our_clock_is_judged_after_its_wait_as_first_read() -> (
    None
):
    # Review (helper 107): judged when first read at our time (day 30, the window open), the
    # request waited for the second ball; judged again after midnight at its own stamp (the
    # storefront's clock 45 minutes ahead), it was refused window_expired, though it was made
    # on day 30.
    day_30_late = DELIVERED + timedelta(days=30, hours=8, minutes=30)  # 23:30 UTC, day 30
    returns = Returns(now=day_30_late, policy=WAITING)
    order = Order()
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 1), (SPLINT, 1)]))

    await returns.apply(
        request_return,
        order.return_requested([(BALL, 2)], "ret-ahead"),
        at=day_30_late + timedelta(minutes=45),
    )
    assert returns.emitted.events == []  # held for the second ball
    returns.clock.advance(timedelta(hours=1))  # the wait ends after midnight
    assert await returns.judge_due(WAITING) == 1

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.reason_code == "quantity_exceeds_delivered", rejected.message

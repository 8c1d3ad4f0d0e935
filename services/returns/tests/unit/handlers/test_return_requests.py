"""request_return: an RMA or a rejection, judged when the customer asked, answered once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from orderflow_contracts.events import (
    LineQuantity,
    ReturnAuthorized,
    ReturnRejected,
)
from orderflow_returns.domain.identifiers import rma_id_for
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.order_facts import record_shipment_delivered
from orderflow_returns.handlers.return_requests import request_return

from services.returns.tests.unit.handlers.scenario import BALL, DELIVERED, SPLINT, Order, Returns


async def test_an_authorised_return_opens_an_rma_in_the_requests_journey() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=10))
    order = Order()
    await returns.know(order)

    asked = await returns.apply(
        request_return,
        order.return_requested([(BALL, 2), (SPLINT, 1)], "ret-all"),
        correlation_id="journey-1",
    )

    rma_id = rma_id_for(order.order_id, "ret-all")
    assert returns.emitted.events == [
        ReturnAuthorized(
            order_id=order.order_id,
            rma_id=rma_id,
            return_request_id="ret-all",
            lines=[LineQuantity(sku=BALL, quantity=2), LineQuantity(sku=SPLINT, quantity=1)],
            return_by=date(2025, 2, 27),  # 13 Feb + 14 days to post the parcel
        )
    ]
    [envelope] = returns.emitted.envelopes
    assert (envelope.correlation_id, envelope.causation_id) == ("journey-1", str(asked.event_id))
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.correlation_id, rma.authorised_at) == (
        RmaState.AUTHORISED,
        "journey-1",
        returns.clock.now(),
    )
    assert {sku: line.authorised for sku, line in rma.lines.items()} == {BALL: 2, SPLINT: 1}
    answer = returns.tables.return_requests[(order.order_id, "ret-all")]
    assert (answer.outcome, answer.rma_id) == ("authorised", rma_id)
    assert order.order_id in returns.tables.locked_orders


async def test_a_rejection_says_why_and_opens_no_rma() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)

    await returns.apply(request_return, order.return_requested([("SOCK-1", 1)], "ret-sock"))

    assert returns.emitted.events == [
        ReturnRejected(
            order_id=order.order_id,
            return_request_id="ret-sock",
            reason_code="unknown_sku",
            message="SOCK-1 is not part of this order",
        )
    ]
    assert returns.tables.rmas == {}
    answer = returns.tables.return_requests[(order.order_id, "ret-sock")]
    assert (answer.outcome, answer.reason_code) == ("rejected", "unknown_sku")


async def test_the_same_request_again_is_answered_once() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    request = order.return_requested([(BALL, 1)], "ret-twice")

    await returns.apply(request_return, request)
    await returns.apply(request_return, request)  # a producer retrying: a new event id

    assert len(returns.emitted.events) == 1
    assert len(returns.tables.rmas) == 1


async def test_a_request_is_judged_when_the_customer_made_it_not_when_it_is_read() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=40))  # the service is 10 days behind
    order = Order()
    await returns.know(order)
    last_second_of_day_30 = datetime(2025, 3, 5, 23, 59, 59, 999999, tzinfo=UTC)
    first_instant_of_day_31 = datetime(2025, 3, 6, tzinfo=UTC)

    await returns.apply(
        request_return, order.return_requested([(BALL, 1)]), at=last_second_of_day_30
    )
    await returns.apply(
        request_return, order.return_requested([(BALL, 1)]), at=first_instant_of_day_31
    )

    [inside] = returns.emitted.of_type(ReturnAuthorized)
    # Judged at the day asked; 14 days to post the parcel from the day it is authorised (read).
    assert inside.return_by == date(2025, 3, 15) + timedelta(days=14)
    [late] = returns.emitted.of_type(ReturnRejected)
    assert (late.reason_code, late.message) == (
        "window_expired",
        f"{BALL}: the 30-day return window closed (last day 2025-03-05)",
    )


async def test_a_request_stamped_in_the_future_is_judged_now() -> None:
    now = DELIVERED + timedelta(days=30, hours=8)  # day 30, 23:00 UTC
    returns = Returns(now=now)
    order = Order()
    await returns.know(order)

    await returns.apply(
        request_return, order.return_requested([(BALL, 1)]), at=now + timedelta(days=2)
    )

    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_by == date(2025, 3, 19)
    [answer] = returns.tables.return_requests.values()
    assert answer.requested_at == now


async def test_units_on_their_way_back_cannot_be_returned_again() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    await returns.authorise(order, [(BALL, 2)])

    await returns.apply(request_return, order.return_requested([(BALL, 1)]))

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert (rejected.reason_code, rejected.message) == (
        "quantity_exceeds_delivered",
        f"{BALL}: 1 requested, 0 returnable (2 delivered, 2 already returned)",
    )


async def test_a_replacement_shipment_is_not_returnable_for_money() -> None:
    returns = Returns()
    order = Order()
    await returns.apply(
        record_shipment_delivered, order.delivered(lines=[(BALL, 1)], replacement=True)
    )

    await returns.apply(request_return, order.return_requested([(BALL, 1)]))

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert rejected.reason_code == "unknown_order"  # nothing paid for is known of it


async def test_another_customers_order_is_answered_as_unknown() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)

    await returns.apply(
        request_return, order.return_requested([(BALL, 1)], customer_id="cust-someone-else")
    )

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert (rejected.reason_code, rejected.message) == (
        "unknown_order",
        "We have no delivered order with this id.",
    )
    assert returns.tables.rmas == {}


async def test_one_unit_requests_cannot_return_units_past_their_window() -> None:
    # Two balls in two parcels (day 0 and day 20); on day 35 only the newer one is returnable,
    # however the customer splits the request.
    returns = Returns(now=DELIVERED + timedelta(days=35))
    order = Order()
    await returns.know(order)
    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 1)]))
    newer = order.delivered(DELIVERED + timedelta(days=20), [(BALL, 1)])
    await returns.apply(record_shipment_delivered, newer)

    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-first"))
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-second"))

    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert authorised.return_request_id == "ret-first"
    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert (rejected.return_request_id, rejected.reason_code, rejected.message) == (
        "ret-second",
        "window_expired",
        f"{BALL}: 1 requested, only 0 still inside the 30-day return window",
    )


async def test_an_rma_whose_parcel_never_came_lets_its_units_go_14_days_after_return_by() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=1))
    order = Order()
    await returns.know(order)
    await returns.authorise(order, [(BALL, 2)])  # return by 18 Feb, never posted

    returns.clock.set(datetime(2025, 3, 4, 23, 59, tzinfo=UTC))  # 18 Feb + 14 days
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-in-transit"))
    returns.clock.set(datetime(2025, 3, 5, tzinfo=UTC))  # the window's last day
    await returns.apply(request_return, order.return_requested([(BALL, 1)], "ret-lapsed"))

    [rejected] = returns.emitted.of_type(ReturnRejected)
    assert (rejected.return_request_id, rejected.reason_code) == (
        "ret-in-transit",
        "quantity_exceeds_delivered",
    )
    authorised = returns.emitted.of_type(ReturnAuthorized)
    assert authorised[-1].return_request_id == "ret-lapsed"

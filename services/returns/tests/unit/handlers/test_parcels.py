"""receive_return_parcel: what came back is refunded (at most what was authorised), once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from orderflow_chassis.errors import PermanentError
from orderflow_contracts.events import (
    RefundLine,
    RefundRequested,
    ReplacementRequested,
    ReturnRefundStopped,
)
from orderflow_returns.domain.identifiers import refund_id_for
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.parcels import receive_return_parcel
from orderflow_returns.handlers.refunds import settle_refund_issued
from orderflow_returns.handlers.warranty import file_warranty_claim

from services.returns.tests.unit.handlers.scenario import (
    BALL,
    DELIVERED,
    SPLINT,
    Order,
    Returns,
    eur,
)


async def test_a_parcel_for_an_unknown_rma_is_refused_for_good() -> None:
    returns = Returns()
    unknown = uuid.uuid4()

    with pytest.raises(PermanentError) as refused:
        await returns.apply(receive_return_parcel, Order.parcel(unknown, [(BALL, 1, "resellable")]))

    assert (refused.value.code, refused.value.reason) == (
        "unknown_rma",
        f"no RMA {unknown}: a parcel must quote an authorised RMA id",
    )
    assert returns.emitted.events == []


async def test_the_parcel_is_recorded_and_its_refund_requested_in_the_rmas_journey() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    rma_id = await returns.authorise(order, [(BALL, 2)], "ret-balls")
    journey = returns.emitted.envelopes[0].correlation_id

    parcel = await returns.apply(
        receive_return_parcel,
        Order.parcel(rma_id, [(BALL, 1, "resellable"), (BALL, 1, "damaged")], DELIVERED),
        correlation_id="warehouse-scan-7",
    )

    refund_id = refund_id_for(rma_id, 1)
    assert returns.emitted.events[1:] == [
        RefundRequested(
            order_id=order.order_id,
            refund_id=refund_id,
            rma_id=rma_id,
            amount=eur("18.50"),  # damaged units are refunded too; no shipping: splint kept
            lines=[RefundLine(sku=BALL, quantity=2, amount=eur("18.50"))],
            shipping_refund=eur("0.00"),
        )
    ]
    envelope = returns.emitted.envelopes[1]
    assert (envelope.correlation_id, envelope.causation_id) == (journey, str(parcel.event_id))
    rma = returns.tables.rmas[rma_id]
    line = rma.lines[BALL]
    assert (line.received, line.damaged, line.returned) == (2, 1, 2)
    assert (rma.state, rma.current_refund_id, rma.refund_attempts, rma.warehouse_id) == (
        RmaState.REFUND_REQUESTED,
        refund_id,
        1,
        "EU-1",
    )
    refund = returns.tables.refunds[refund_id]
    assert (refund.state, refund.amount, refund.attempt, refund.requested_at) == (
        "requested",
        eur("18.50"),
        1,
        returns.clock.now(),
    )


async def test_a_second_parcel_for_the_same_rma_refunds_nothing_more() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    rma_id = await returns.authorise(order, [(SPLINT, 1)])
    parcel = Order.parcel(rma_id, [(SPLINT, 1, "resellable")])

    await returns.apply(receive_return_parcel, parcel)
    first_received_at = returns.tables.rmas[rma_id].received_at
    await returns.apply(
        receive_return_parcel,
        Order.parcel(rma_id, [(SPLINT, 1, "damaged")], DELIVERED + timedelta(days=1)),
    )

    assert len(returns.emitted.of_type(RefundRequested)) == 1
    assert len(returns.tables.refunds) == 1
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.received_at, rma.lines[SPLINT].damaged) == (
        RmaState.REFUND_REQUESTED,  # still waiting for payment, not stopped for ops
        first_received_at,
        0,
    )


async def test_units_beyond_the_authorisation_are_recorded_but_not_refunded() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    rma_id = await returns.authorise(order, [(BALL, 1)])

    await returns.apply(
        receive_return_parcel,
        Order.parcel(rma_id, [(BALL, 2, "resellable"), (SPLINT, 1, "resellable")]),
    )

    [refund] = returns.emitted.of_type(RefundRequested)
    assert (refund.amount, refund.lines) == (
        eur("9.25"),
        [RefundLine(sku=BALL, quantity=1, amount=eur("9.25"))],
    )
    lines = returns.tables.rmas[rma_id].lines
    assert (lines[SPLINT].authorised, lines[SPLINT].received, lines[SPLINT].returned) == (0, 1, 0)


async def test_a_parcel_with_nothing_authorised_closes_the_rma_without_a_refund() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    rma_id = await returns.authorise(order, [(BALL, 1)])

    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(SPLINT, 1, "resellable")]))

    assert returns.emitted.of_type(RefundRequested) == []
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.closed_at) == (RmaState.CLOSED, returns.clock.now())


async def test_the_shipping_fee_is_refunded_once_with_the_last_unit_of_the_order() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    refunds: list[RefundRequested] = []
    for sku, qty in [(BALL, 1), (SPLINT, 1), (BALL, 1)]:
        rma_id = await returns.authorise(order, [(sku, qty)])
        await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(sku, qty, "resellable")]))
        refunds.append(returns.emitted.of_type(RefundRequested)[-1])
        await returns.apply(
            settle_refund_issued,
            order.refund_issued(refunds[-1].refund_id, str(refunds[-1].amount.amount)),
        )

    assert [(r.amount, r.shipping_refund) for r in refunds] == [
        (eur("9.25"), eur("0.00")),
        (eur("36.94"), eur("0.00")),
        (eur("14.24"), eur("4.99")),
    ]
    assert sum(r.amount.amount for r in refunds) == order.total


async def test_a_refund_above_what_is_left_of_the_payment_is_stopped_for_ops() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    # Payment refunded 50.00 of the 60.43 on its own (a goodwill gesture by support).
    await returns.apply(settle_refund_issued, order.refund_issued(uuid.uuid4(), "50.00"))
    rma_id = await returns.authorise(order, [(SPLINT, 1)])

    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(SPLINT, 1, "resellable")]))

    assert returns.emitted.of_type(RefundRequested) == []
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.problem_code, rma.problem_message) == (
        RmaState.REFUND_FAILED,
        "exceeds_paid",
        "refund of 36.94 EUR would exceed what is left to refund (10.43 EUR)",
    )
    assert rma.refund_amount is None  # never priced: a retry prices it afresh
    # Said on the topic, or the storefront shows the return as authorised forever.
    assert returns.emitted.of_type(ReturnRefundStopped) == [
        ReturnRefundStopped(
            order_id=order.order_id,
            rma_id=rma_id,
            reason_code="exceeds_paid",
            message="refund of 36.94 EUR would exceed what is left to refund (10.43 EUR)",
        )
    ]


async def test_a_parcel_with_nothing_to_refund_closes_the_rma_and_says_so() -> None:
    returns = Returns()
    order = Order(lines=((BALL, 1, "0.00"), (SPLINT, 1, "36.94")))  # the ball was a gift
    await returns.know(order)
    rma_id = await returns.authorise(order, [(BALL, 1)])
    journey = returns.emitted.envelopes[0].correlation_id

    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(BALL, 1, "resellable")]))

    assert returns.tables.rmas[rma_id].state == RmaState.CLOSED
    assert returns.emitted.of_type(RefundRequested) == []
    [closed] = returns.emitted.of_type(ReturnRefundStopped)
    assert (closed.order_id, closed.rma_id, closed.reason_code) == (
        order.order_id,
        rma_id,
        "nothing_to_refund",
    )
    assert returns.emitted.envelopes[-1].correlation_id == journey


@pytest.mark.parametrize("late_parcel_first", [False, True])
async def test_a_lapsed_rmas_late_parcel_never_refunds_the_units_twice(
    late_parcel_first: bool,
) -> None:
    returns = Returns(now=DELIVERED)
    order = Order(lines=((SPLINT, 1, "36.94"),))  # 41.93 EUR with shipping
    await returns.know(order)
    lapsed = await returns.authorise(order, [(SPLINT, 1)])  # return by 17 Feb
    returns.clock.set(DELIVERED + timedelta(days=29))  # 17 Feb + 14 days are over
    again = await returns.authorise(order, [(SPLINT, 1)])  # the same unit, a new RMA

    first, second = (lapsed, again) if late_parcel_first else (again, lapsed)
    for rma_id in (first, second):
        parcel = Order.parcel(rma_id, [(SPLINT, 1, "resellable")], returns.clock.now())
        await returns.apply(receive_return_parcel, parcel)

    [refund] = returns.emitted.of_type(RefundRequested)
    assert (refund.rma_id, refund.amount) == (first, eur("41.93"))  # never above the capture
    stopped = returns.tables.rmas[second]
    assert (stopped.state, stopped.problem_code, stopped.problem_message) == (
        RmaState.REFUND_FAILED,
        "exceeds_ordered",
        f"{SPLINT}: 1 + 1 units returned but 1 ordered",
    )


async def test_a_unit_replaced_under_warranty_is_never_refunded_too() -> None:
    # An RMA never posted lapses; the unit's warranty claim is accepted and a replacement
    # ships; then the old RMA's parcel arrives. It was refunded (with the shipping fee): the
    # customer had the unit replaced and its price back.
    returns = Returns(now=DELIVERED + timedelta(days=1))
    order = Order(lines=((SPLINT, 1, "36.94"),))
    await returns.know(order)
    lapsed = await returns.authorise(order, [(SPLINT, 1)])
    returns.clock.set(DELIVERED + timedelta(days=40))  # past the window and the lapse
    await returns.apply(file_warranty_claim, order.warranty_claim(SPLINT, "DE", "claim-1"))
    assert returns.emitted.of_type(ReplacementRequested)

    late = Order.parcel(lapsed, [(SPLINT, 1, "damaged")], returns.clock.now())
    await returns.apply(receive_return_parcel, late)

    assert not returns.emitted.of_type(RefundRequested)
    stopped = returns.tables.rmas[lapsed]
    assert (stopped.state, stopped.problem_code, stopped.problem_message) == (
        RmaState.REFUND_FAILED,
        "exceeds_ordered",
        f"{SPLINT}: 0 returned + 1 replaced under warranty + 1 in this parcel, but 1 ordered",
    )

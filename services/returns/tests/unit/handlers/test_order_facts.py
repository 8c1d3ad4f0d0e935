"""The facts other services publish: remembered once, and a waiting parcel priced when the
order finally arrives."""

from __future__ import annotations

from datetime import timedelta

from orderflow_contracts.events import RefundLine, RefundRequested, ReturnAuthorized
from orderflow_returns.domain.identifiers import refund_id_for
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.order_facts import (
    record_order_placed,
    record_payment_captured,
    record_shipment_delivered,
)
from orderflow_returns.handlers.parcels import receive_return_parcel
from orderflow_returns.handlers.return_requests import request_return

from services.returns.tests.unit.handlers.scenario import (
    BALL,
    DELIVERED,
    SPLINT,
    Order,
    Returns,
    eur,
)


async def test_an_order_is_remembered_once_at_the_time_it_was_placed() -> None:
    returns = Returns()
    order = Order()
    placed_at = DELIVERED - timedelta(days=3)

    await returns.apply(record_order_placed, order.placed(), at=placed_at)
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED)  # again, later

    stored = returns.tables.orders[order.order_id]
    assert (stored.customer_id, stored.placed_at, stored.total) == (
        order.customer_id,
        placed_at,
        eur("60.43"),
    )
    assert {sku: line.quantity for sku, line in stored.lines.items()} == {BALL: 2, SPLINT: 1}
    assert returns.tables.locked_orders == [order.order_id, order.order_id]
    assert returns.emitted.events == []


async def test_a_parcel_that_beat_the_order_is_refunded_when_the_order_arrives() -> None:
    returns = Returns()
    order = Order()
    await returns.apply(record_shipment_delivered, order.delivered())
    # A request naming no customer (the contract allows it) is decided on the deliveries.
    anonymous = order.return_requested([(BALL, 2), (SPLINT, 1)], customer_id=None)
    request = await returns.apply(request_return, anonymous)
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    rma_id = authorised.rma_id
    await returns.apply(
        receive_return_parcel,
        Order.parcel(rma_id, [(BALL, 2, "resellable"), (SPLINT, 1, "damaged")]),
    )
    assert returns.tables.rmas[rma_id].state == RmaState.RECEIVED
    assert len(returns.emitted.events) == 1  # only the authorisation: no prices known yet

    placed = await returns.apply(record_order_placed, order.placed())

    assert returns.emitted.events[1:] == [
        RefundRequested(
            order_id=order.order_id,
            refund_id=refund_id_for(rma_id, 1),
            rma_id=rma_id,
            amount=eur("60.43"),  # the whole order back: the shipping fee too
            lines=[
                RefundLine(sku=BALL, quantity=2, amount=eur("18.50")),
                RefundLine(sku=SPLINT, quantity=1, amount=eur("36.94")),
            ],
            shipping_refund=eur("4.99"),
        )
    ]
    refund_envelope = returns.emitted.envelopes[1]
    # The refund belongs to the customer's return journey; OrderPlaced caused it.
    assert (refund_envelope.correlation_id, refund_envelope.causation_id) == (
        request.correlation_id,
        str(placed.event_id),
    )
    assert returns.tables.rmas[rma_id].state == RmaState.REFUND_REQUESTED

    await returns.apply(record_order_placed, order.placed())  # the order again
    assert len(returns.emitted.events) == 2


async def test_a_delivery_and_a_capture_are_remembered_once() -> None:
    returns = Returns()
    order = Order()
    delivery = order.delivered()
    capture = order.captured("50.00")

    for _ in range(2):
        await returns.apply(record_shipment_delivered, delivery)
        await returns.apply(record_payment_captured, capture)

    assert sorted((d.sku, d.quantity) for d in returns.tables.deliveries.values()) == [
        (BALL, 2),
        (SPLINT, 1),
    ]
    assert list(returns.tables.captures.values()) == [(order.order_id, eur("50.00"))]
    assert returns.tables.locked_orders == [order.order_id] * 4


async def test_a_sku_delivered_on_two_lines_counts_both_lines_units() -> None:
    # The contract lets a SKU come on several lines; the store kept the first line's units
    # and dropped the second's: a return of both was refused quantity_exceeds_delivered.
    returns = Returns()
    order = Order()
    await returns.apply(record_order_placed, order.placed())
    await returns.apply(record_shipment_delivered, order.delivered(lines=[(BALL, 1), (BALL, 1)]))

    await returns.apply(request_return, order.return_requested([(BALL, 2)]))

    assert [d.quantity for d in returns.tables.deliveries.values()] == [2]
    [authorised] = returns.emitted.of_type(ReturnAuthorized)
    assert [(line.sku, line.quantity) for line in authorised.lines] == [(BALL, 2)]


async def test_the_capture_not_the_order_total_is_the_refund_ceiling() -> None:
    returns = Returns()
    order = Order()
    await returns.apply(record_order_placed, order.placed())
    await returns.apply(record_shipment_delivered, order.delivered())
    await returns.apply(record_payment_captured, order.captured("30.00"))  # less was charged
    rma_id = await returns.authorise(order, [(SPLINT, 1)])

    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(SPLINT, 1, "resellable")]))

    assert returns.emitted.of_type(RefundRequested) == []
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.problem_code, rma.problem_message) == (
        RmaState.REFUND_FAILED,
        "exceeds_paid",
        "refund of 36.94 EUR would exceed what is left to refund (30.00 EUR)",
    )

"""file_warranty_claim: a replacement to the order's address, or a refusal; one per unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from orderflow_contracts.events import (
    LineQuantity,
    ReplacementRequested,
    ReturnRejected,
    WarrantyClaimAccepted,
    WarrantyClaimRejected,
)
from orderflow_returns.handlers.order_facts import (
    record_order_placed,
    record_payment_captured,
    record_shipment_delivered,
)
from orderflow_returns.handlers.parcels import receive_return_parcel
from orderflow_returns.handlers.return_requests import request_return
from orderflow_returns.handlers.warranty import file_warranty_claim

from services.returns.tests.unit.handlers.scenario import (
    BALL,
    DELIVERED,
    SPLINT,
    Order,
    Returns,
)

AFTER_THE_WINDOW = DELIVERED + timedelta(days=60)


async def test_an_accepted_claim_asks_for_a_replacement_to_the_orders_address() -> None:
    returns = Returns(now=AFTER_THE_WINDOW)
    order = Order(country="FR")
    await returns.know(order)
    claim = order.warranty_claim(SPLINT, "DE", "claim-1")

    filed = await returns.apply(file_warranty_claim, claim, correlation_id="claim-journey")

    assert returns.emitted.events == [
        WarrantyClaimAccepted(
            order_id=order.order_id,
            claim_id="claim-1",
            sku=SPLINT,
            quantity=1,
            country_of_usage="DE",
            warranty_ends_on=date(2027, 2, 3),  # 24 months in Germany, from the delivery day
        ),
        ReplacementRequested(
            order_id=order.order_id,
            claim_id="claim-1",
            lines=[LineQuantity(sku=SPLINT, quantity=1)],
            ship_to=order.placed().ship_to,
        ),
    ]
    assert {(e.correlation_id, e.causation_id) for e in returns.emitted.envelopes} == {
        ("claim-journey", str(filed.event_id))
    }
    answer = returns.tables.claims[(order.order_id, "claim-1")]
    assert (answer.outcome, answer.term_months, answer.decided_at) == (
        "accepted",
        24,
        returns.clock.now(),
    )
    assert returns.tables.warranty_units == {(order.order_id, SPLINT, 1): "claim-1"}


async def test_a_unit_is_replaced_once_and_the_same_claim_answered_once() -> None:
    returns = Returns(now=AFTER_THE_WINDOW)
    order = Order()
    await returns.know(order)
    claim = order.warranty_claim(SPLINT, "DE")
    await returns.apply(file_warranty_claim, claim)

    await returns.apply(file_warranty_claim, claim)  # the same claim again: no new answer
    await returns.apply(file_warranty_claim, order.warranty_claim(SPLINT, "DE"))  # same unit

    assert len(returns.emitted.of_type(WarrantyClaimAccepted)) == 1
    [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
    assert (rejected.reason_code, rejected.message) == (
        "already_claimed",
        f"{SPLINT}: 1 of 1 delivered units were already replaced under warranty; 0 left to claim",
    )


async def test_each_claim_takes_the_next_units_of_the_line() -> None:
    returns = Returns(now=AFTER_THE_WINDOW)
    order = Order()
    await returns.know(order)

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE", "first"))
    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE", "second"))

    assert returns.tables.warranty_units == {
        (order.order_id, BALL, 1): "first",
        (order.order_id, BALL, 2): "second",
    }


async def test_units_returned_for_a_refund_cannot_be_claimed() -> None:
    returns = Returns()
    order = Order()
    await returns.know(order)
    rma_id = await returns.authorise(order, [(BALL, 2)])
    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(BALL, 2, "resellable")]))
    returns.clock.set(AFTER_THE_WINDOW)

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE"))

    [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
    assert (rejected.reason_code, rejected.message) == (
        "quantity_exceeds_delivered",
        f"{BALL}: 1 claimed, 0 delivered and not returned",
    )
    assert returns.tables.warranty_units == {}


async def test_a_claim_is_judged_when_it_was_filed_inside_the_term() -> None:
    returns = Returns(now=datetime(2026, 2, 10, tzinfo=UTC))  # read a week late
    order = Order()
    await returns.know(order)
    last_day_us = datetime(2026, 2, 3, 23, 59, 59, tzinfo=UTC)

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "US"), at=last_day_us)
    await returns.apply(
        file_warranty_claim,
        order.warranty_claim(BALL, "US"),
        at=last_day_us + timedelta(seconds=1),
    )

    [accepted] = returns.emitted.of_type(WarrantyClaimAccepted)
    assert accepted.warranty_ends_on == date(2026, 2, 3)  # 12 months in the US
    [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
    assert (rejected.reason_code, rejected.message) == (
        "warranty_expired",
        "The 12-month warranty in US ended on 2026-02-03",
    )


async def test_inside_the_return_window_a_claim_points_to_a_return() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=5))
    order = Order()
    await returns.know(order)

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE"))

    assert [type(e) for e in returns.emitted.events] == [WarrantyClaimRejected]
    [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
    assert rejected.reason_code == "within_return_window"
    answer = returns.tables.claims[(order.order_id, rejected.claim_id)]
    assert (answer.outcome, answer.reason_code) == ("rejected", "within_return_window")


async def test_a_claim_on_an_order_never_placed_is_unknown() -> None:
    returns = Returns(now=AFTER_THE_WINDOW)
    order = Order()

    await returns.apply(file_warranty_claim, order.warranty_claim(BALL, "DE"))

    [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
    assert (rejected.reason_code, rejected.message) == (
        "unknown_order",
        "We have no order with this id.",
    )
    assert returns.emitted.of_type(ReplacementRequested) == []


async def test_units_of_an_rma_whose_parcel_never_came_can_be_claimed_once_it_lapsed() -> None:
    returns = Returns(now=DELIVERED + timedelta(days=25))
    order = Order()
    await returns.know(order)
    await returns.authorise(order, [(SPLINT, 1)])  # return by 14 Mar, never posted

    returns.clock.set(datetime(2025, 3, 28, 23, 59, tzinfo=UTC))  # 14 Mar + 14 days
    await returns.apply(file_warranty_claim, order.warranty_claim(SPLINT, "DE", "claim-early"))
    returns.clock.set(datetime(2025, 3, 29, tzinfo=UTC))
    await returns.apply(file_warranty_claim, order.warranty_claim(SPLINT, "DE", "claim-lapsed"))

    [rejected] = returns.emitted.of_type(WarrantyClaimRejected)
    assert (rejected.claim_id, rejected.reason_code) == (
        "claim-early",
        "quantity_exceeds_delivered",
    )
    [accepted] = returns.emitted.of_type(WarrantyClaimAccepted)
    assert accepted.claim_id == "claim-lapsed"


async def test_a_unit_whose_window_closed_is_claimed_while_a_later_parcels_window_is_open() -> None:
    # Two splints in two parcels, days 0 and 20; the one returned on day 35 came from the
    # day-20 parcel (the day-0 window had closed). On day 40 a return refuses the other unit
    # (its window closed), and the claim was refused "within the return window" (the later
    # parcel's): neither route took it until day 51.
    returns = Returns(now=DELIVERED)
    order = Order(lines=((SPLINT, 2, "36.94"),))
    await returns.apply(record_order_placed, order.placed(), at=DELIVERED - timedelta(days=3))
    await returns.apply(record_payment_captured, order.captured())
    for day in (0, 20):
        parcel = order.delivered(DELIVERED + timedelta(days=day), [(SPLINT, 1)])
        await returns.apply(record_shipment_delivered, parcel)
    returns.clock.set(DELIVERED + timedelta(days=35))
    await returns.authorise(order, [(SPLINT, 1)])

    returns.clock.set(DELIVERED + timedelta(days=40))
    await returns.apply(request_return, order.return_requested([(SPLINT, 1)]))
    [refused] = returns.emitted.of_type(ReturnRejected)
    assert refused.reason_code == "window_expired"
    await returns.apply(file_warranty_claim, order.warranty_claim(SPLINT, "DE"))

    assert returns.emitted.of_type(WarrantyClaimRejected) == []
    [accepted] = returns.emitted.of_type(WarrantyClaimAccepted)
    assert accepted.quantity == 1


async def test_a_return_of_a_unit_already_replaced_is_refused_up_front() -> None:
    # The request, made inside the window, is read after the claim that replaced the unit:
    # it was authorised, and its parcel then stopped for exceeding what was ordered.
    returns = Returns(now=DELIVERED + timedelta(days=31))
    order = Order(country="DE")
    await returns.know(order)
    await returns.apply(file_warranty_claim, order.warranty_claim(SPLINT, "DE"))
    assert len(returns.emitted.of_type(WarrantyClaimAccepted)) == 1

    await returns.apply(
        request_return,
        order.return_requested([(SPLINT, 1)]),
        at=DELIVERED + timedelta(days=29),
    )

    [refused] = returns.emitted.of_type(ReturnRejected)
    assert refused.reason_code == "quantity_exceeds_delivered"
    assert "1 replaced under warranty" in refused.message

"""Payment's answers to a refund, and ops' retry of a failed one: each moves the RMA once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from orderflow_contracts.events import RefundLine, RefundRequested
from orderflow_returns.domain.identifiers import refund_id_for
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.order_facts import (
    record_order_placed,
    record_payment_captured,
    record_shipment_delivered,
)
from orderflow_returns.handlers.parcels import receive_return_parcel
from orderflow_returns.handlers.refunds import (
    RetryOutcome,
    release_unpaid_refund,
    retry_failed_refund,
    settle_refund_failed,
    settle_refund_issued,
)

from services.returns.tests.unit.handlers.scenario import BALL, SPLINT, Order, Returns, eur


async def refund_requested(
    returns: Returns, order: Order, lines: list[tuple[str, int]]
) -> tuple[uuid.UUID, RefundRequested]:
    """An RMA of ``lines`` whose parcel came back: its id and the refund it requested."""
    await returns.know(order)
    rma_id = await returns.authorise(order, lines)
    parcel = [(sku, qty, "resellable") for sku, qty in lines]
    await returns.apply(receive_return_parcel, Order.parcel(rma_id, parcel))
    return rma_id, returns.emitted.of_type(RefundRequested)[-1]


async def retry(returns: Returns, rma_id: uuid.UUID) -> RetryOutcome:
    async with returns.transactions.begin() as uow:
        return await retry_failed_refund(rma_id, uow)


async def release(returns: Returns, refund_id: uuid.UUID) -> RetryOutcome:
    async with returns.transactions.begin() as uow:
        return await release_unpaid_refund(refund_id, uow)


async def test_the_refund_issued_closes_the_rma_once() -> None:
    returns = Returns()
    order = Order()
    rma_id, refund = await refund_requested(returns, order, [(SPLINT, 1)])
    returns.clock.advance(timedelta(days=2))
    issued = order.refund_issued(refund.refund_id, "36.94")

    envelope = await returns.apply(settle_refund_issued, issued)
    closed_at = returns.clock.now()
    returns.clock.advance(timedelta(days=1))
    await returns.apply(settle_refund_issued, issued)  # again

    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.closed_at) == (RmaState.CLOSED, closed_at)
    stored = returns.tables.refunds[refund.refund_id]
    assert (stored.state, stored.settled_at) == ("issued", envelope.occurred_at)
    assert len(returns.emitted.events) == 2  # the authorisation and the refund request only


async def test_a_refund_we_did_not_request_counts_against_the_ceiling() -> None:
    returns = Returns()
    order = Order()
    goodwill = uuid.uuid4()

    await returns.apply(settle_refund_issued, order.refund_issued(goodwill, "50.00"))
    await returns.apply(settle_refund_issued, order.refund_issued(goodwill, "50.00"))

    stored = returns.tables.refunds[goodwill]
    assert (stored.origin, stored.state, stored.amount, stored.rma_id) == (
        "payment",
        "issued",
        eur("50.00"),
        None,
    )
    assert len(returns.tables.refunds) == 1
    assert returns.tables.rmas == {}


async def test_a_failed_refund_puts_the_rma_in_front_of_ops_with_paymentss_reason() -> None:
    returns = Returns()
    order = Order()
    rma_id, refund = await refund_requested(returns, order, [(SPLINT, 1)])
    failed = order.refund_failed(refund.refund_id, "36.94", "provider_refused")

    await returns.apply(settle_refund_failed, failed)
    await returns.apply(settle_refund_failed, failed)  # again: already settled

    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.problem_code, rma.problem_message) == (
        RmaState.REFUND_FAILED,
        "provider_refused",
        "The provider refused the refund",
    )
    stored = returns.tables.refunds[refund.refund_id]
    assert (stored.state, stored.failure) == (
        "failed",
        ("provider_refused", "The provider refused the refund"),
    )


async def test_a_failure_after_the_refund_was_issued_changes_nothing() -> None:
    returns = Returns()
    order = Order()
    rma_id, refund = await refund_requested(returns, order, [(SPLINT, 1)])
    await returns.apply(settle_refund_issued, order.refund_issued(refund.refund_id, "36.94"))

    await returns.apply(
        settle_refund_failed, order.refund_failed(refund.refund_id, "36.94", "provider_refused")
    )

    assert returns.tables.rmas[rma_id].state == RmaState.CLOSED
    assert returns.tables.refunds[refund.refund_id].state == "issued"


async def test_ops_retry_requests_the_same_refund_under_the_next_refund_id() -> None:
    returns = Returns()
    order = Order()
    rma_id, first = await refund_requested(returns, order, [(SPLINT, 1)])
    await returns.apply(
        settle_refund_failed, order.refund_failed(first.refund_id, "36.94", "card_closed")
    )

    outcome = await retry(returns, rma_id)

    second_id = refund_id_for(rma_id, 2)
    assert outcome == RetryOutcome(True, f"refund {second_id} requested for 36.94 EUR", second_id)
    second = returns.emitted.of_type(RefundRequested)[-1]
    assert (second.refund_id, second.amount, second.lines, second.shipping_refund) == (
        second_id,
        eur("36.94"),
        first.lines,
        first.shipping_refund,
    )
    envelope = returns.emitted.envelopes[-1]
    # Nothing caused it but ops: it stays in the customer's journey, with no causing event.
    assert (envelope.correlation_id, envelope.causation_id) == (
        returns.emitted.envelopes[0].correlation_id,
        None,
    )
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.current_refund_id, rma.refund_attempts, rma.problem_code) == (
        RmaState.REFUND_REQUESTED,
        second_id,
        2,
        None,
    )

    again = await retry(returns, rma_id)
    assert again == RetryOutcome(False, f"RMA {rma_id} is refund_requested, not refund_failed")
    assert len(returns.emitted.of_type(RefundRequested)) == 2


@pytest.mark.parametrize(
    "code", ["provider_unavailable", "provider_not_configured", "outcome_unknown"]
)
async def test_a_refund_that_may_be_asked_again_is_asked_again_under_its_id(code: str) -> None:
    # The provider may have paid all the same (its answer lost, then a payment restart that
    # forgot it; or a refusal after an unanswered call): under a new id it would pay again;
    # under this one it answers what it did. Not configured, it was never asked.
    returns = Returns()
    order = Order()
    rma_id, first = await refund_requested(returns, order, [(SPLINT, 1)])
    await returns.apply(settle_refund_failed, order.refund_failed(first.refund_id, "36.94", code))

    outcome = await retry(returns, rma_id)

    assert outcome == RetryOutcome(
        True, f"refund {first.refund_id} requested for 36.94 EUR", first.refund_id
    )
    again = returns.emitted.of_type(RefundRequested)[-1]
    assert (again.refund_id, again.amount, again.lines) == (
        first.refund_id,
        first.amount,
        first.lines,
    )
    rma = returns.tables.rmas[rma_id]
    assert (rma.state, rma.current_refund_id, rma.refund_attempts) == (
        RmaState.REFUND_REQUESTED,
        first.refund_id,
        1,
    )
    [stored] = returns.tables.refunds.values()
    assert (stored.state, stored.failure) == ("requested", None)
    await returns.apply(settle_refund_issued, order.refund_issued(first.refund_id, "36.94"))
    assert returns.tables.rmas[rma_id].state == RmaState.CLOSED


async def test_a_late_answer_about_an_earlier_attempt_leaves_the_retry_alone() -> None:
    returns = Returns()
    order = Order()
    rma_id, first = await refund_requested(returns, order, [(SPLINT, 1)])
    failed = order.refund_failed(first.refund_id, "36.94", "card_closed")
    await returns.apply(settle_refund_failed, failed)
    await retry(returns, rma_id)

    await returns.apply(settle_refund_failed, failed)  # the first attempt's failure, again

    assert returns.tables.rmas[rma_id].state == RmaState.REFUND_REQUESTED
    await returns.apply(
        settle_refund_issued, order.refund_issued(refund_id_for(rma_id, 2), "36.94")
    )
    assert returns.tables.rmas[rma_id].state == RmaState.CLOSED
    assert [r.state for r in returns.tables.refunds.values()] == ["failed", "issued"]


async def test_ops_retry_checks_the_ceiling_again() -> None:
    returns = Returns()
    order = Order()
    rma_id, first = await refund_requested(returns, order, [(SPLINT, 1)])
    await returns.apply(
        settle_refund_failed, order.refund_failed(first.refund_id, "36.94", "card_closed")
    )
    # Meanwhile payment refunded 30.00 on its own.
    await returns.apply(settle_refund_issued, order.refund_issued(uuid.uuid4(), "30.00"))

    outcome = await retry(returns, rma_id)

    assert outcome == RetryOutcome(
        False, "exceeds_paid: 36.94 EUR requested, 30.43 EUR left to refund"
    )
    assert len(returns.emitted.of_type(RefundRequested)) == 1
    assert returns.tables.rmas[rma_id].state == RmaState.REFUND_FAILED


async def unknown_refund_beside_a_return(
    returns: Returns,
) -> tuple[uuid.UUID, RefundRequested, uuid.UUID]:
    """Of an order of 60.43: the splint's refund (36.94) failed ``outcome_unknown``, payment
    refunded 20.00 on its own, and the balls came back (23.49 with the shipping fee): the
    splint's RMA, its refund, and the balls' RMA."""
    order = Order()
    splint_rma, unknown = await refund_requested(returns, order, [(SPLINT, 1)])
    await returns.apply(
        settle_refund_failed, order.refund_failed(unknown.refund_id, "36.94", "outcome_unknown")
    )
    await returns.apply(settle_refund_issued, order.refund_issued(uuid.uuid4(), "20.00"))
    ball_rma = await returns.authorise(order, [(BALL, 2)])
    await returns.apply(receive_return_parcel, Order.parcel(ball_rma, [(BALL, 2, "resellable")]))
    return splint_rma, unknown, ball_rma


async def test_a_refund_whose_outcome_is_unknown_counts_against_the_ceiling() -> None:
    # The provider may have paid it: until it is answered again, the order's other refunds
    # must leave room for it, or the customer could get more back than was paid.
    returns = Returns()
    splint_rma, unknown, ball_rma = await unknown_refund_beside_a_return(returns)

    stopped = returns.tables.rmas[ball_rma]
    assert (stopped.state, stopped.problem_code) == (RmaState.REFUND_FAILED, "exceeds_paid")
    assert len(returns.emitted.of_type(RefundRequested)) == 1
    # Asked again under its own id, the unknown refund is not counted twice.
    outcome = await retry(returns, splint_rma)
    assert outcome == RetryOutcome(
        True, f"refund {unknown.refund_id} requested for 36.94 EUR", unknown.refund_id
    )


async def test_ops_release_an_unknown_refund_the_provider_did_not_pay() -> None:
    returns = Returns()
    splint_rma, unknown, ball_rma = await unknown_refund_beside_a_return(returns)
    assert returns.tables.rmas[ball_rma].state == RmaState.REFUND_FAILED  # exceeds_paid

    released = await release(returns, unknown.refund_id)

    waiting = ", ".join(sorted([str(splint_rma), str(ball_rma)]))
    assert released == RetryOutcome(
        True,
        f"refund {unknown.refund_id} released, not paid; to retry: {waiting}",
        unknown.refund_id,
    )
    assert (await retry(returns, ball_rma)).ok
    assert returns.emitted.of_type(RefundRequested)[-1].amount == eur("23.49")
    # Not counted any more: what is left is the payment less the goodwill and the balls.
    assert await retry(returns, splint_rma) == RetryOutcome(
        False, "exceeds_paid: 36.94 EUR requested, 16.94 EUR left to refund"
    )
    assert await release(returns, unknown.refund_id) == RetryOutcome(
        False,
        f"refund {unknown.refund_id} is failed (confirmed_not_paid), not failed with an "
        "unknown outcome",
    )


async def test_ops_release_refuses_a_refund_that_may_not_be_released() -> None:
    returns = Returns()
    order = Order()
    _, refund = await refund_requested(returns, order, [(SPLINT, 1)])

    assert await release(returns, refund.refund_id) == RetryOutcome(
        False,
        f"refund {refund.refund_id} is requested (no failure), not failed with an unknown outcome",
    )
    missing = uuid.uuid4()
    assert await release(returns, missing) == RetryOutcome(False, f"no refund {missing}")


async def test_ops_retry_prices_an_rma_that_was_stopped_before_pricing() -> None:
    returns = Returns()
    order = Order()
    await returns.apply(record_order_placed, order.placed())
    await returns.apply(record_shipment_delivered, order.delivered())
    await returns.apply(record_payment_captured, order.captured("30.00"))
    rma_id = await returns.authorise(order, [(SPLINT, 1)])
    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(SPLINT, 1, "resellable")]))
    assert returns.tables.rmas[rma_id].problem_code == "exceeds_paid"
    # The rest of the payment is captured: ops retry once the cause is fixed.
    await returns.apply(record_payment_captured, order.captured("30.43"))

    outcome = await retry(returns, rma_id)

    first_id = refund_id_for(rma_id, 1)  # no refund was ever requested for it
    assert outcome == RetryOutcome(True, f"refund {first_id} requested for 36.94 EUR", first_id)
    assert returns.emitted.of_type(RefundRequested) == [
        RefundRequested(
            order_id=order.order_id,
            refund_id=first_id,
            rma_id=rma_id,
            amount=eur("36.94"),
            lines=[RefundLine(sku=SPLINT, quantity=1, amount=eur("36.94"))],
            shipping_refund=eur("0.00"),
        )
    ]
    assert returns.tables.rmas[rma_id].refund_amount == eur("36.94").amount


async def test_ops_retry_refuses_what_it_cannot_find_or_price() -> None:
    returns = Returns()
    unknown = uuid.uuid4()
    assert await retry(returns, unknown) == RetryOutcome(False, f"no RMA {unknown}")

    order = Order()
    await returns.know(order)
    await returns.apply(settle_refund_issued, order.refund_issued(uuid.uuid4(), "50.00"))
    rma_id = await returns.authorise(order, [(SPLINT, 1)])
    await returns.apply(receive_return_parcel, Order.parcel(rma_id, [(SPLINT, 1, "resellable")]))

    outcome = await retry(returns, rma_id)

    assert outcome == RetryOutcome(
        False,
        "exceeds_paid: refund of 36.94 EUR would exceed what is left to refund (10.43 EUR)",
    )
    assert returns.emitted.of_type(RefundRequested) == []
    assert returns.tables.rmas[rma_id].refund_amount is None

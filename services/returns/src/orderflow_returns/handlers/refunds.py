"""Payment's answer to a refund (issued or failed), and ops' retry of a failed one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import RefundFailed, RefundIssued
from orderflow_contracts.events.payments import (
    REFUND_FAILURES_THAT_MAY_HAVE_PAID,
    refund_may_be_asked_again,
)

from orderflow_returns.domain.refunds import RefundedLine, RefundPlan, RefundRefusal
from orderflow_returns.domain.rma import RmaState, can_move
from orderflow_returns.handlers._facts import cause_of
from orderflow_returns.handlers._refunding import (
    close_nothing_to_refund,
    price,
    record_pricing,
    refundable,
    request_refund,
)
from orderflow_returns.ports import ReturnsRepositories

log = structlog.get_logger(__name__)


async def settle_refund_issued(event: RefundIssued, uow: UnitOfWork[ReturnsRepositories]) -> None:
    """The money went back: close the RMA. A refund we did not ask for still counts against
    the order's ceiling."""
    repos = uow.repos
    issued_at = cause_of(uow).occurred_at
    await repos.orders.lock(event.order_id)
    refund = await repos.refunds.get(event.refund_id, for_update=True)
    if refund is None:
        await repos.refunds.record_external(
            event.refund_id, event.order_id, event.amount, issued_at
        )
        return
    if refund.state == "issued":
        return
    if refund.failure_code == CONFIRMED_NOT_PAID:  # ops released it: the provider paid after all
        log.error("return.released_refund_was_paid", refund_id=str(event.refund_id))
    await repos.refunds.settle(event.refund_id, "issued", at=issued_at)
    if refund.rma_id is None:
        return
    rma = await repos.rmas.get(refund.rma_id, for_update=True)
    if rma is not None and can_move(rma.state, RmaState.CLOSED):
        await repos.rmas.set_state(rma.rma_id, RmaState.CLOSED, at=uow.now)
        log.info("return.closed", rma_id=str(rma.rma_id))


async def settle_refund_failed(event: RefundFailed, uow: UnitOfWork[ReturnsRepositories]) -> None:
    """Payment could not refund: the RMA waits for ops (``rmas --state refund_failed``)."""
    repos = uow.repos
    failed_at = cause_of(uow).occurred_at
    await repos.orders.lock(event.order_id)
    refund = await repos.refunds.get(event.refund_id, for_update=True)
    if refund is None or refund.state != "requested":
        return  # not ours, or already settled: nothing changes
    failure = (event.reason_code, event.message)
    await repos.refunds.settle(event.refund_id, "failed", at=failed_at, failure=failure)
    if refund.rma_id is None:
        return
    rma = await repos.rmas.get(refund.rma_id, for_update=True)
    if (
        rma is not None
        and rma.current_refund_id == event.refund_id  # not an older attempt's late answer
        and can_move(rma.state, RmaState.REFUND_FAILED)
    ):
        await repos.rmas.set_state(rma.rma_id, RmaState.REFUND_FAILED, at=uow.now, problem=failure)
        log.warning("return.refund_failed", rma_id=str(rma.rma_id), code=event.reason_code)


@dataclass(frozen=True)
class RetryOutcome:
    ok: bool
    message: str
    refund_id: uuid.UUID | None = None


async def retry_failed_refund(
    rma_id: uuid.UUID, uow: UnitOfWork[ReturnsRepositories]
) -> RetryOutcome:
    """Ops: request a failed RMA's refund again, under a new refund id (attempt n + 1), or
    under the same one, for the same amount, when the failure may be asked again (the
    provider unreachable or not configured, or a refusal after an unanswered call: see
    ``RefundFailureCode``).

    An unreachable provider may have paid all the same (an answer lost, then a restart that
    forgot it): asked again under its id, the provider answers what it did instead of paying a
    second time (its idempotency key is derived from the id), while the provider keeps that key.
    The ceiling is checked again, so a retry never takes the order above what was paid. A
    refund whose outcome is unknown counts against it (it may have been paid) except when it
    is the one asked again.
    """
    repos = uow.repos
    found = await repos.rmas.get(rma_id)
    if found is None:
        return RetryOutcome(False, f"no RMA {rma_id}")
    await repos.orders.lock(found.order_id)
    rma = await repos.rmas.get(rma_id, for_update=True)
    assert rma is not None
    if rma.state != RmaState.REFUND_FAILED:
        return RetryOutcome(False, f"RMA {rma_id} is {rma.state.value}, not refund_failed")
    snapshot = await repos.orders.snapshot(rma.order_id)
    if snapshot is None:
        return RetryOutcome(False, f"order {rma.order_id} is still unknown (no OrderPlaced)")
    priced = await repos.rmas.priced_refund(rma.rma_id)
    last = None if rma.current_refund_id is None else await repos.refunds.get(rma.current_refund_id)
    if priced is None:
        # Stopped before pricing (e.g. a SKU missing from the order): price it afresh.
        outcome = await price(repos, rma, snapshot)
        if isinstance(outcome, RefundRefusal):
            return RetryOutcome(False, f"{outcome.code}: {outcome.message}")
        await record_pricing(repos, rma, snapshot, outcome)
        plan = outcome
    else:
        left = await refundable(repos, rma.order_id, snapshot)
        if (
            last is not None
            and last.failure_code in REFUND_FAILURES_THAT_MAY_HAVE_PAID
            and refund_may_be_asked_again(last.failure_code)
            and last.amount == priced.amount
        ):
            left = left + last.amount  # asked again under its own id below: it counts once
        if priced.amount > left:
            return RetryOutcome(
                False, f"exceeds_paid: {priced.amount} requested, {left} left to refund"
            )
        returned = await repos.rmas.returned_lines(rma.rma_id)
        plan = RefundPlan(
            tuple(
                RefundedLine(sku, returned[sku], priced.line_amounts[sku])
                for sku in sorted(returned)
            ),
            priced.shipping_refund,
            priced.amount,
            whole_order_back=False,
        )
    if plan.amount.is_zero:
        await close_nothing_to_refund(uow, rma)
        return RetryOutcome(True, f"RMA {rma_id} closed: nothing to refund")
    again = None
    if (
        last is not None
        and refund_may_be_asked_again(last.failure_code)
        and last.amount == plan.amount
    ):
        again = last.refund_id
    refund_id = await request_refund(uow, rma, plan, again=again)
    return RetryOutcome(True, f"refund {refund_id} requested for {plan.amount}", refund_id)


CONFIRMED_NOT_PAID = "confirmed_not_paid"


async def release_unpaid_refund(
    refund_id: uuid.UUID, uow: UnitOfWork[ReturnsRepositories]
) -> RetryOutcome:
    """Ops: the provider confirmed that a refund which failed with an unknown outcome was not
    paid. It stops holding room under the order's ceiling (decision 89) and is final under its
    id: its RMA's retry requests it under a new one. The order's RMAs in ``refund_failed`` (its
    own, and any stopped ``exceeds_paid`` beside it) are named, for ops to retry."""
    repos = uow.repos
    found = await repos.refunds.get(refund_id)
    if found is None:
        return RetryOutcome(False, f"no refund {refund_id}")
    await repos.orders.lock(found.order_id)
    refund = await repos.refunds.get(refund_id, for_update=True)
    assert refund is not None
    if refund.state != "failed" or refund.failure_code not in REFUND_FAILURES_THAT_MAY_HAVE_PAID:
        return RetryOutcome(
            False,
            f"refund {refund_id} is {refund.state} ({refund.failure_code or 'no failure'}), "
            "not failed with an unknown outcome",
        )
    failure = (CONFIRMED_NOT_PAID, "the provider confirmed it did not pay this refund (ops)")
    await repos.refunds.settle(refund_id, "failed", at=uow.now, failure=failure)
    log.info("return.refund_released", refund_id=str(refund_id), order_id=str(refund.order_id))
    waiting = await repos.rmas.in_state(refund.order_id, RmaState.REFUND_FAILED)
    to_retry = f"; to retry: {', '.join(sorted(map(str, waiting)))}" if waiting else ""
    return RetryOutcome(True, f"refund {refund_id} released, not paid{to_retry}", refund_id)

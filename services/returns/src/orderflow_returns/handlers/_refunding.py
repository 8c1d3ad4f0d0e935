"""Pricing a received RMA and requesting its refund: shared by the parcel, the late order and
ops' retry."""

from __future__ import annotations

import uuid

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    RefundLine,
    RefundRequested,
    ReturnRefundStopCode,
    ReturnRefundStopped,
)
from orderflow_contracts.money import Money

from orderflow_returns.domain.identifiers import refund_id_for
from orderflow_returns.domain.refunds import OrderSnapshot, RefundPlan, RefundRefusal, plan_refund
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.ports import ReturnsRepositories, Rma

log = structlog.get_logger(__name__)


async def refundable(
    repos: ReturnsRepositories, order_id: uuid.UUID, snapshot: OrderSnapshot
) -> Money:
    """What may still be refunded: captured (or, while no capture is known, the order total)
    minus every refund requested or issued so far, and every failed one that may have been paid
    (``outcome_unknown``); other failed ones excluded."""
    captured = await repos.orders.captured(order_id, snapshot.currency)
    paid = captured if captured is not None else snapshot.total
    return paid - await repos.refunds.committed(order_id, snapshot.currency)


async def price(
    repos: ReturnsRepositories, rma: Rma, snapshot: OrderSnapshot
) -> RefundPlan | RefundRefusal:
    """The refund of what came back in ``rma``'s parcel, after the order's other returns."""
    previous, shipping_done = await repos.rmas.previously_refunded_units(rma.order_id, rma.rma_id)
    returned = await repos.rmas.returned_lines(rma.rma_id)
    claims = repos.warranty_claims
    return plan_refund(
        snapshot,
        returned,
        previously_refunded=previous,
        replaced={sku: await claims.claimed_units(rma.order_id, sku) for sku in returned},
        shipping_already_refunded=shipping_done,
        refundable=await refundable(repos, rma.order_id, snapshot),
    )


async def record_pricing(
    repos: ReturnsRepositories, rma: Rma, snapshot: OrderSnapshot, plan: RefundPlan
) -> None:
    await repos.rmas.record_pricing(
        rma.rma_id,
        currency=snapshot.currency,
        line_amounts={line.sku: line.amount for line in plan.lines},
        amount=plan.amount,
        shipping_refund=plan.shipping_refund,
    )


async def price_and_request_refund(uow: UnitOfWork[ReturnsRepositories], rma: Rma) -> None:
    """Price a received RMA and request its refund (or close it, or stop it for ops)."""
    repos = uow.repos
    snapshot = await repos.orders.snapshot(rma.order_id)
    if snapshot is None:
        # The parcel beat OrderPlaced (events cross topics in any order): the refund is
        # priced when the order arrives (record_order_placed).
        log.info("return.refund_awaits_order", rma_id=str(rma.rma_id))
        return
    outcome = await price(repos, rma, snapshot)
    if isinstance(outcome, RefundRefusal):
        await repos.rmas.set_state(
            rma.rma_id, RmaState.REFUND_FAILED, at=uow.now, problem=(outcome.code, outcome.message)
        )
        await announce_stop(uow, rma, outcome.code, outcome.message)
        log.warning("return.refund_stopped", rma_id=str(rma.rma_id), code=outcome.code)
        return
    await record_pricing(repos, rma, snapshot, outcome)
    if outcome.amount.is_zero:
        await close_nothing_to_refund(uow, rma)
        return
    await request_refund(uow, rma, outcome)


async def close_nothing_to_refund(uow: UnitOfWork[ReturnsRepositories], rma: Rma) -> None:
    await uow.repos.rmas.set_state(rma.rma_id, RmaState.CLOSED, at=uow.now)
    await announce_stop(
        uow,
        rma,
        ReturnRefundStopCode.NOTHING_TO_REFUND,
        "the returned units leave nothing to refund",
    )
    log.info("return.closed_nothing_to_refund", rma_id=str(rma.rma_id))


async def announce_stop(
    uow: UnitOfWork[ReturnsRepositories], rma: Rma, code: str, message: str
) -> None:
    """Say that no refund follows the parcel: without it the storefront (and anyone else
    waiting for a RefundRequested) would show the return as pending forever."""
    await uow.emit(
        ReturnRefundStopped(
            order_id=rma.order_id, rma_id=rma.rma_id, reason_code=code, message=message
        ),
        correlation_id=rma.correlation_id,
    )


async def request_refund(
    uow: UnitOfWork[ReturnsRepositories],
    rma: Rma,
    plan: RefundPlan,
    *,
    again: uuid.UUID | None = None,
) -> uuid.UUID:
    """Ask payment for ``plan`` under the RMA's next refund id (attempt n + 1), or ``again``
    under the id of its last attempt, which failed for the same amount."""
    if again is not None:
        attempt, refund_id = rma.refund_attempts, again
        await uow.repos.refunds.ask_again(refund_id, at=uow.now)
    else:
        attempt = rma.refund_attempts + 1
        refund_id = refund_id_for(rma.rma_id, attempt)
        await uow.repos.refunds.request(
            refund_id=refund_id,
            rma_id=rma.rma_id,
            order_id=rma.order_id,
            attempt=attempt,
            amount=plan.amount,
            shipping_refund=plan.shipping_refund,
            at=uow.now,
        )
    await uow.repos.rmas.refund_requested(rma.rma_id, refund_id=refund_id, attempt=attempt)
    await uow.emit(
        RefundRequested(
            order_id=rma.order_id,
            refund_id=refund_id,
            rma_id=rma.rma_id,
            amount=plan.amount,
            lines=[
                RefundLine(sku=line.sku, quantity=line.quantity, amount=line.amount)
                for line in plan.lines
            ],
            shipping_refund=plan.shipping_refund,
        ),
        # The refund belongs to the customer's return journey, whatever event triggered it.
        correlation_id=rma.correlation_id,
    )
    log.info("return.refund_requested", rma_id=str(rma.rma_id), amount=str(plan.amount))
    return refund_id

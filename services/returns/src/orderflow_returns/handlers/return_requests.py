"""A customer's return request: authorised (an RMA) or rejected, inside the return window."""

from __future__ import annotations

from datetime import datetime

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    LineQuantity,
    ReturnAuthorized,
    ReturnRejected,
    ReturnRequested,
)

from orderflow_returns.domain.identifiers import rma_id_for
from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.domain.returns import ReturnAuthorisation, ReturnRefusal, decide_return
from orderflow_returns.domain.window import judged_at
from orderflow_returns.handlers._facts import cause_of, order_facts
from orderflow_returns.handlers._holding import first_wait, held_for_a_delivery
from orderflow_returns.ports import ReturnsRepositories

log = structlog.get_logger(__name__)


async def request_return(
    event: ReturnRequested, uow: UnitOfWork[ReturnsRepositories], *, policy: ReturnsPolicy
) -> None:
    """Authorise (RMA) or reject a customer's return request; one that finds no delivery yet
    waits for it (``policy.delivery_wait``, see ``held_requests.py``)."""
    await judge_return(event, uow, policy=policy, hold_until=first_wait(uow, policy.delivery_wait))


async def judge_return(
    event: ReturnRequested,
    uow: UnitOfWork[ReturnsRepositories],
    *,
    policy: ReturnsPolicy,
    hold_until: datetime | None,
) -> None:
    """Authorise or reject the request ``uow.cause`` carries, or hold it until ``hold_until``
    when it waits for a delivery (None: judge it now, whatever is known)."""
    repos = uow.repos
    await repos.orders.lock(event.order_id)
    if await repos.return_requests.known(event.order_id, event.return_request_id):
        log.info("return.request_already_answered", return_request_id=event.return_request_id)
        return
    request = cause_of(uow)
    at = judged_at(request.occurred_at, uow.now)
    decision = decide_return(
        [(line.sku, line.quantity) for line in event.lines],
        await order_facts(repos, event.order_id, at=at, policy=policy),
        at=at,
        authorised_at=uow.now,
        window=policy.window,
        return_shipping_days=policy.return_shipping_days,
        customer_id=event.customer_id,
    )
    awaits_delivery = isinstance(decision, ReturnRefusal) and decision.may_await_delivery
    if await held_for_a_delivery(uow, awaits_delivery, event, hold_until):
        return
    if isinstance(decision, ReturnAuthorisation):
        rma_id = rma_id_for(event.order_id, event.return_request_id)
        await repos.rmas.create(
            rma_id=rma_id,
            order_id=event.order_id,
            request_id=event.return_request_id,
            # The RMA's later events (its refund) belong to this customer journey.
            correlation_id=request.correlation_id,
            reason=event.reason,
            lines=decision.lines,
            authorised_at=uow.now,
            return_by=decision.return_by,
        )
        await repos.return_requests.record(
            event.order_id,
            event.return_request_id,
            outcome="authorised",
            rma_id=rma_id,
            requested_at=at,
            decided_at=uow.now,
        )
        await uow.emit(
            ReturnAuthorized(
                order_id=event.order_id,
                rma_id=rma_id,
                return_request_id=event.return_request_id,
                lines=[LineQuantity(sku=sku, quantity=qty) for sku, qty in decision.lines],
                return_by=decision.return_by,
            )
        )
        log.info("return.authorised", rma_id=str(rma_id), return_by=str(decision.return_by))
        return
    await repos.return_requests.record(
        event.order_id,
        event.return_request_id,
        outcome="rejected",
        reason_code=decision.code.value,
        message=decision.message,
        requested_at=at,
        decided_at=uow.now,
    )
    await uow.emit(
        ReturnRejected(
            order_id=event.order_id,
            return_request_id=event.return_request_id,
            reason_code=decision.code.value,
            message=decision.message,
        )
    )
    log.info("return.rejected", reason_code=decision.code.value)

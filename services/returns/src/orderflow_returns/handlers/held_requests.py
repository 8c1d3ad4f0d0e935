"""Held requests judged again: when a delivery (or the ``OrderPlaced``) of their order is
recorded, and for the last time when their wait ends (a periodic job). Why they wait:
``_holding.py``.

A held request is judged as it came: with its own envelope as the unit's cause, so its answer
is caused by and correlated with the request, and judged at the time the customer made it.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import structlog
from orderflow_chassis.errors import is_transient
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork
from orderflow_contracts.errors import ContractError
from orderflow_contracts.events import ReturnRequested, WarrantyClaimFiled

from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.handlers.return_requests import judge_return
from orderflow_returns.handlers.warranty import judge_claim
from orderflow_returns.ports import HeldRequest, RequestKind, ReturnsRepositories

log = structlog.get_logger(__name__)

BATCH = 100
RETRY_AFTER = timedelta(minutes=1)  # a request that could not be judged is tried again then


async def judge_held_requests(
    uow: UnitOfWork[ReturnsRepositories], order_id: uuid.UUID, *, policy: ReturnsPolicy
) -> None:
    """A fact held requests wait for (a delivery, the order) was recorded in ``uow``: judge the
    order's held requests again (one still waiting for another fact keeps its wait). One this
    version cannot read stays held for the job, rather than failing the fact's handler."""
    for held in await uow.repos.held_requests.release(order_id):
        event = _readable(held)
        if event is None:
            await uow.repos.held_requests.hold(held)
        else:
            await _judge(uow, held, event, policy, hold_until=held.held_until)


async def judge_due_requests(
    transactions: Transactions[ReturnsRepositories],
    *,
    policy: ReturnsPolicy,
    batch_size: int = BATCH,
) -> int:
    """Judge, on what is known now and for good, the held requests whose wait ended; each in
    its own transaction, after its order's lock, as a consumer would. Rounds follow each
    other while they are full. A request that cannot be judged (unreadable by this version,
    or a defect) is logged and postponed by ``RETRY_AFTER``, so it never holds up the others;
    an infrastructure failure ends the run, to be tried again at the next tick."""
    judged = 0
    while True:
        async with transactions.begin(read_only=True) as uow:
            due = await uow.repos.held_requests.due(uow.now, batch_size)
        for order_id, kind, request_id in due:
            try:
                judged += await _judge_due(transactions, order_id, kind, request_id, policy)
            except Exception as error:
                if is_transient(error):
                    raise
                log.exception("returns.held_request_failed", kind=kind, request_id=request_id)
                async with transactions.begin() as uow:
                    await uow.repos.held_requests.postpone(
                        order_id, kind, request_id, uow.now + RETRY_AFTER
                    )
        if len(due) < batch_size:
            break
    if judged:
        log.info("returns.held_requests_judged", count=judged)
    return judged


async def _judge_due(
    transactions: Transactions[ReturnsRepositories],
    order_id: uuid.UUID,
    kind: RequestKind,
    request_id: str,
    policy: ReturnsPolicy,
) -> int:
    async with transactions.begin() as uow:
        await uow.repos.orders.lock(order_id)
        held = await uow.repos.held_requests.take(order_id, kind, request_id)
        if held is None:  # another instance (or a delivery) judged it
            return 0
        event = _readable(held)
        if event is None:
            raise UnreadableHeldRequest(f"held {kind} {request_id} cannot be read")
        await _judge(uow, held, event, policy, hold_until=None)
        return 1


class UnreadableHeldRequest(Exception):
    """A held request's envelope this version cannot read (a newer contract, while deploying)."""


def _readable(held: HeldRequest) -> ReturnRequested | WarrantyClaimFiled | None:
    try:
        event = held.envelope.parse_event()
    except ContractError:
        log.error("returns.held_request_unreadable", kind=held.kind, request_id=held.request_id)
        return None
    if not isinstance(event, ReturnRequested | WarrantyClaimFiled):
        log.error("returns.held_request_unexpected", kind=held.kind, event=event.event_type)
        return None
    return event


async def _judge(
    uow: UnitOfWork[ReturnsRepositories],
    held: HeldRequest,
    event: ReturnRequested | WarrantyClaimFiled,
    policy: ReturnsPolicy,
    *,
    hold_until: datetime | None,
) -> None:
    as_requested = dataclasses.replace(uow, cause=held.envelope)
    if isinstance(event, ReturnRequested):
        await judge_return(event, as_requested, policy=policy, hold_until=hold_until)
    else:
        await judge_claim(event, as_requested, policy=policy, hold_until=hold_until)

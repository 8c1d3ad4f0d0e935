"""Held requests judged again: when a delivery (or the ``OrderPlaced``) of their order is
recorded, and for the last time when their wait ends (a periodic job). Why they wait:
``_holding.py``.

A held request is judged as it came: with its own envelope as the unit's cause, so its answer
is caused by and correlated with the request, and judged at the time the customer made it.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

import structlog
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork
from orderflow_contracts.events import ReturnRequested, WarrantyClaimFiled

from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.handlers.return_requests import judge_return
from orderflow_returns.handlers.warranty import judge_claim
from orderflow_returns.ports import HeldRequest, ReturnsRepositories

log = structlog.get_logger(__name__)

BATCH = 100


async def judge_held_requests(
    uow: UnitOfWork[ReturnsRepositories], order_id: uuid.UUID, *, policy: ReturnsPolicy
) -> None:
    """A fact held requests wait for (a delivery, the order) was recorded in ``uow``: judge the
    order's held requests again (one still waiting for another fact keeps its wait)."""
    for held in await uow.repos.held_requests.release(order_id):
        await _judge(uow, held, policy, hold_until=held.held_until)


async def judge_due_requests(
    transactions: Transactions[ReturnsRepositories],
    *,
    policy: ReturnsPolicy,
    batch_size: int = BATCH,
) -> int:
    """Judge, on what is known now and for good, the held requests whose wait ended; each in
    its own transaction, after its order's lock, as a consumer would."""
    async with transactions.begin(read_only=True) as uow:
        due = await uow.repos.held_requests.due(uow.now, batch_size)
    judged = 0
    for order_id, kind, request_id in due:
        async with transactions.begin() as uow:
            await uow.repos.orders.lock(order_id)
            held = await uow.repos.held_requests.take(order_id, kind, request_id)
            if held is not None:  # else another instance (or a delivery) judged it
                await _judge(uow, held, policy, hold_until=None)
                judged += 1
    if judged:
        log.info("returns.held_requests_judged", count=judged)
    return judged


async def _judge(
    uow: UnitOfWork[ReturnsRepositories],
    held: HeldRequest,
    policy: ReturnsPolicy,
    *,
    hold_until: datetime | None,
) -> None:
    as_requested = dataclasses.replace(uow, cause=held.envelope)
    event = held.envelope.parse_event()
    if isinstance(event, ReturnRequested):
        await judge_return(event, as_requested, policy=policy, hold_until=hold_until)
    elif isinstance(event, WarrantyClaimFiled):
        await judge_claim(event, as_requested, policy=policy, hold_until=hold_until)
    else:  # only the two request handlers hold
        raise TypeError(f"a held {held.kind} carries {event.event_type}")

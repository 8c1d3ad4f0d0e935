"""Held requests judged again: when a delivery (or the ``OrderPlaced``) of their order is
recorded, and for the last time when their wait ends (a periodic job). Why they wait:
``_holding.py``.

A wait that ended is not enough: the delivery may be on its topic, not read yet (the consumer
behind by more than the wait: an outage, a backlog). When the job first finds a request due,
it takes read marks (the end offsets of the topics deliveries and orders come on) and judges
the request once the service's consumer has applied everything up to them
(``orderflow_chassis.read_marks``): a delivery published before its wait ended counts,
however late it is read. How long the oldest has waited so is exported
(``orderflow_returns_held_requests_awaiting_reads_seconds``, alert
``OrderflowReturnsAwaitingReads``): a consumer that never catches up holds them, visibly,
rather than answering them wrongly.

A held request is judged as it came: with its own envelope as the unit's cause, so its answer
is caused by and correlated with the request, and judged at the time the customer made it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from orderflow_chassis.errors import describe_error, is_transient
from orderflow_chassis.read_marks import marks_reached
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError
from orderflow_contracts.events import ReturnRequested, WarrantyClaimFiled
from pydantic import ValidationError

from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.handlers.refused_requests import request_failed
from orderflow_returns.handlers.return_requests import judge_return
from orderflow_returns.handlers.warranty import judge_claim
from orderflow_returns.metrics import HELD_AWAITING_READS_SECONDS
from orderflow_returns.ports import (
    DeliveryReads,
    HeldKey,
    HeldRequest,
    ReturnsRepositories,
)

log = structlog.get_logger(__name__)

BATCH = 100
RETRY_AFTER = timedelta(minutes=1)  # a request that could not be judged is tried again then
RETRY_TRANSIENT_AFTER = timedelta(seconds=5)  # ... or then, when the failure may pass
# Failures that do not pass (not counting transient ones, nor an envelope this version cannot
# read yet) after which a request is answered request_failed and set aside: about 10 minutes.
GIVE_UP_AFTER_FAILURES = 10


async def judge_held_requests(
    uow: UnitOfWork[ReturnsRepositories], order_id: uuid.UUID, *, policy: ReturnsPolicy
) -> None:
    """A fact held requests wait for (a delivery, the order) was recorded in ``uow``: judge the
    order's held requests again. One still waiting for another fact is held again, with its
    wait and its read marks, even when its wait ended: only the job refuses for good, once the
    deliveries published before then were read. One this version cannot read stays held for
    the job, rather than failing the fact's handler; so does one whose judgement fails for a
    reason that does not pass, with that failure counted (it is undone alone)."""
    for held in await uow.repos.held_requests.release(order_id):
        readable = _readable(held)
        if readable is None:
            log.error("returns.held_request_unreadable", kind=held.kind, request_id=held.request_id)
            await uow.repos.held_requests.hold(held)
            continue
        try:
            async with uow.part():
                await _judge(uow, *readable, policy, hold_until=held.held_until)
        except Exception as error:
            if is_transient(error):
                raise  # the fact's batch is tried again, the request with it
            # Its failure is its own: the fact is recorded all the same, and the request,
            # held again as it was, counts a failure towards the job's giving up on it.
            log.warning(
                "returns.held_request_failed",
                kind=held.kind,
                request_id=held.request_id,
                error=describe_error(error),
                transient=False,
            )
            failed = dataclasses.replace(held, failures=held.failures + 1)
            await uow.repos.held_requests.hold(failed)
            continue
        if held.read_marks is not None:  # held again: what it waits for stays the same
            key = (held.order_id, held.kind, held.request_id)
            await uow.repos.held_requests.mark([key], held.read_marks)


async def judge_due_requests(
    transactions: Transactions[ReturnsRepositories],
    *,
    policy: ReturnsPolicy,
    reads: DeliveryReads,
    batch_size: int = BATCH,
) -> int:
    """Judge, on what is known now and for good, the held requests whose wait ended and whose
    read marks the consumer reached (see the module); each in its own transaction, after its
    order's lock, as a consumer would. Pages of ``batch_size`` follow each other, each after the
    last one's last request, so requests waiting for reads never hide those behind them. A
    request that cannot be judged is logged and postponed (by
    ``RETRY_AFTER``, or ``RETRY_TRANSIENT_AFTER`` when the failure may pass: a lock timeout on
    its order), so it never holds up the others; after ``GIVE_UP_AFTER_FAILURES`` failures that
    do not pass it is answered ``request_failed`` and set aside; if even postponing fails, the
    database is away and the run ends, to be tried at the next tick. Requests without marks
    wait while Kafka cannot give them (the round then fails, after the others were judged)."""
    judged, oldest_awaiting = 0, None
    positions: Mapping[str, int] | None = None  # read once a run: they only grow
    tried: set[HeldKey] = set()
    after: tuple[datetime, HeldKey] | None = None
    no_marks: Exception | None = None
    while True:
        async with transactions.begin(read_only=True) as uow:
            due = await uow.repos.held_requests.due(uow.now, batch_size, after=after)
            now = uow.now
        if not due:
            break
        after = (due[-1][2], due[-1][0])
        fresh = [(key, marks, until) for key, marks, until in due if key not in tried]
        tried.update(key for key, _, _ in fresh)
        ready, no_marks = await _with_marks(transactions, fresh, reads, no_marks)
        if ready and positions is None:
            async with transactions.begin(read_only=True) as uow:
                positions = await uow.repos.held_requests.read_positions(reads.consumer)
        for key, marks, held_until in ready:
            if not marks_reached(positions or {}, marks):
                oldest_awaiting = min(oldest_awaiting or held_until, held_until)
                continue
            try:
                judged += await _judge_due(transactions, key, policy)
            except Exception as error:
                transient = is_transient(error)
                log.warning(
                    "returns.held_request_failed",
                    kind=key[1],
                    request_id=key[2],
                    error=describe_error(error),
                    transient=transient,
                )
                # A newer contract's request waits for the version that reads it, however long.
                counted = not transient and not isinstance(error, UnreadableHeldRequest)
                async with transactions.begin() as uow:
                    later = RETRY_TRANSIENT_AFTER if transient else RETRY_AFTER
                    failures = await uow.repos.held_requests.postpone(
                        *key, uow.now + later, failed=counted
                    )
                if counted and failures >= GIVE_UP_AFTER_FAILURES:
                    await _give_up(transactions, key, failures, error)
        if len(due) < batch_size:
            break
    if judged:
        log.info("returns.held_requests_judged", count=judged)
    waited = (now - oldest_awaiting).total_seconds() if oldest_awaiting else 0.0
    HELD_AWAITING_READS_SECONDS.set(waited)
    if oldest_awaiting:
        log.info("returns.held_requests_await_reads", oldest_waited_s=round(waited, 1))
    if no_marks is not None:
        raise no_marks
    return judged


async def _with_marks(
    transactions: Transactions[ReturnsRepositories],
    due: list[tuple[HeldKey, Mapping[str, int] | None, datetime]],
    reads: DeliveryReads,
    failed_before: Exception | None,
) -> tuple[list[tuple[HeldKey, Mapping[str, int], datetime]], Exception | None]:
    """The due requests with their marks: those found due for the first time get marks taken
    now (one Kafka call); when Kafka cannot give them, they wait for a later round."""
    unmarked = [key for key, marks, _ in due if marks is None]
    taken: Mapping[str, int] | None = None
    if unmarked and failed_before is None:
        try:
            taken = await reads.take()
        except Exception as error:  # judge the others; the round fails after them
            failed_before = error
        else:
            async with transactions.begin() as uow:
                await uow.repos.held_requests.mark(unmarked, taken)
    ready = []
    for key, marks, held_until in due:
        chosen = marks if marks is not None else taken
        if chosen is not None:
            ready.append((key, chosen, held_until))
    return ready, failed_before


async def _judge_due(
    transactions: Transactions[ReturnsRepositories], key: HeldKey, policy: ReturnsPolicy
) -> int:
    async with transactions.begin() as uow:
        await uow.repos.orders.lock(key[0])
        held = await uow.repos.held_requests.take(*key)
        if held is None:  # another instance (or a delivery) judged it
            return 0
        readable = _readable(held)
        if readable is None:
            raise UnreadableHeldRequest(f"held {held.kind} {held.request_id} cannot be read")
        await _judge(uow, *readable, policy, hold_until=None)
        return 1


async def _give_up(
    transactions: Transactions[ReturnsRepositories],
    key: HeldKey,
    failures: int,
    error: Exception,
) -> None:
    """Answer ``request_failed`` to a request whose judgement kept failing, and set it aside:
    the customer hears that nothing was decided (and may send it again), the log keeps why."""
    async with transactions.begin() as uow:
        await uow.repos.orders.lock(key[0])
        held = await uow.repos.held_requests.take(*key)
        if held is not None and held.failures < GIVE_UP_AFTER_FAILURES:
            # A delivery released and held it again since (its count starts again): it waits.
            await uow.repos.held_requests.hold(held)
            return
        readable = None if held is None else _readable(held)
        if readable is None:  # judged meanwhile (or unreadable: never counted)
            return
        envelope, event = readable
        message = (
            f"the request could not be processed ({failures} attempts failed) and was set "
            "aside for ops; nothing was decided: send it again later"
        )
        await uow.emit(request_failed(event, message), cause=envelope)
    log.error(
        "returns.held_request_set_aside",
        kind=key[1],
        request_id=key[2],
        failures=failures,
        error=describe_error(error),
    )


class UnreadableHeldRequest(Exception):
    """A held request's envelope this version cannot read (a newer contract, while deploying)."""


Readable = tuple[Envelope, ReturnRequested | WarrantyClaimFiled]


def _readable(held: HeldRequest) -> Readable | None:
    """The held request's envelope and event; None when this version cannot read them."""
    try:
        envelope = Envelope.model_validate_json(held.envelope_json)
        event = envelope.parse_event()
    except (ValidationError, ContractError):
        return None
    if not isinstance(event, ReturnRequested | WarrantyClaimFiled):
        return None
    return envelope, event


async def _judge(
    uow: UnitOfWork[ReturnsRepositories],
    envelope: Envelope,
    event: ReturnRequested | WarrantyClaimFiled,
    policy: ReturnsPolicy,
    *,
    hold_until: datetime | None,
) -> None:
    # Judged as it came: its own envelope is the cause (no record of it is being applied).
    as_requested = dataclasses.replace(uow, cause=envelope, received=None)
    if isinstance(event, ReturnRequested):
        await judge_return(event, as_requested, policy=policy, hold_until=hold_until)
    else:
        await judge_claim(event, as_requested, policy=policy, hold_until=hold_until)

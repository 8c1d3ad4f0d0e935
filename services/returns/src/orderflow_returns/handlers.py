"""The returns service's use cases: one function per event it acts on, one transaction each
(the context's connection). Events go out only through ``context.emit`` (the outbox).

Every handler first takes the order's lock, then applies a guarded change: a repeated fact
(the same event redelivered, or the same request sent again with a new event id) changes
nothing and emits nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from orderflow_chassis.clock import Clock
from orderflow_chassis.consumer import HandlerContext
from orderflow_chassis.database import Connection
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.outbox import Outbox
from orderflow_contracts.events import (
    LineQuantity,
    OrderPlaced,
    PaymentCaptured,
    RefundFailed,
    RefundIssued,
    RefundLine,
    RefundRequested,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnParcelReceived,
    ReturnRejected,
    ReturnRequested,
    ShipmentDelivered,
    WarrantyClaimAccepted,
    WarrantyClaimFiled,
    WarrantyClaimRejected,
)

from orderflow_returns.adapters.repository import ReturnsRepository, Rma
from orderflow_returns.domain.identifiers import refund_id_for, rma_id_for
from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.domain.refunds import (
    RefundedLine,
    RefundPlan,
    RefundRefusal,
    plan_refund,
)
from orderflow_returns.domain.returns import ReturnAuthorisation, decide_return
from orderflow_returns.domain.rma import RmaState, can_move
from orderflow_returns.domain.warranty import ClaimAcceptance, decide_claim
from orderflow_returns.domain.window import judged_at

log = structlog.get_logger(__name__)


def _repository(context: HandlerContext) -> ReturnsRepository:
    return ReturnsRepository(context.connection, context.outbox.schema)


# ------------------------------------------------------------------------ upstream facts


async def record_order_placed(event: OrderPlaced, context: HandlerContext, *, clock: Clock) -> None:
    """Remember what was bought and paid; price any parcel that arrived before the order."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    if not await repository.record_order(event, context.envelope.occurred_at):
        return
    for rma_id in await repository.rmas_in_state(event.order_id, RmaState.RECEIVED):
        rma = await repository.rma(rma_id, for_update=True)
        assert rma is not None
        await _price_and_request_refund(repository, rma, context, clock=clock)


async def record_shipment_delivered(event: ShipmentDelivered, context: HandlerContext) -> None:
    """Remember which units reached the customer and when: it opens their return window."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    await repository.record_delivery(
        event.order_id,
        event.shipment_id,
        [(line.sku, line.quantity) for line in event.lines],
        event.delivered_at,
        replacement=event.replacement,
    )


async def record_payment_captured(event: PaymentCaptured, context: HandlerContext) -> None:
    """Remember what was charged: refunds of the order never exceed it."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    await repository.record_capture(event.order_id, event.payment_id, event.amount)


# ------------------------------------------------------------------------ return window


async def request_return(
    event: ReturnRequested, context: HandlerContext, *, policy: ReturnsPolicy, clock: Clock
) -> None:
    """Authorise (RMA) or reject a customer's return request."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    if await repository.return_request_known(event.order_id, event.return_request_id):
        log.info("return.request_already_answered", return_request_id=event.return_request_id)
        return
    now = clock.now()
    at = judged_at(context.envelope.occurred_at, now)
    decision = decide_return(
        [(line.sku, line.quantity) for line in event.lines],
        await repository.order_facts(event.order_id),
        at=at,
        window=policy.window,
        return_shipping_days=policy.return_shipping_days,
        customer_id=event.customer_id,
    )
    if isinstance(decision, ReturnAuthorisation):
        rma_id = rma_id_for(event.order_id, event.return_request_id)
        await repository.create_rma(
            rma_id=rma_id,
            order_id=event.order_id,
            request_id=event.return_request_id,
            correlation_id=context.envelope.correlation_id,
            reason=event.reason,
            lines=decision.lines,
            authorised_at=now,
            return_by=decision.return_by,
        )
        await repository.record_return_request(
            event.order_id,
            event.return_request_id,
            outcome="authorised",
            rma_id=rma_id,
            requested_at=at,
            decided_at=now,
        )
        await context.emit(
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
    await repository.record_return_request(
        event.order_id,
        event.return_request_id,
        outcome="rejected",
        reason_code=decision.code.value,
        message=decision.message,
        requested_at=at,
        decided_at=now,
    )
    await context.emit(
        ReturnRejected(
            order_id=event.order_id,
            return_request_id=event.return_request_id,
            reason_code=decision.code.value,
            message=decision.message,
        )
    )
    log.info("return.rejected", reason_code=decision.code.value)


# ------------------------------------------------------------------ money-back guarantee


async def receive_return_parcel(
    event: ReturnParcelReceived, context: HandlerContext, *, clock: Clock
) -> None:
    """The parcel is in: refund what came back (at most what was authorised)."""
    repository = _repository(context)
    found = await repository.rma(event.rma_id)
    if found is None:
        raise PermanentError(
            "unknown_rma", f"no RMA {event.rma_id}: a parcel must quote an authorised RMA id"
        )
    await repository.lock_order(found.order_id)
    rma = await repository.rma(event.rma_id, for_update=True)
    assert rma is not None
    if not can_move(rma.state, RmaState.RECEIVED):
        # One parcel per RMA: a redelivered scan (or a second box) refunds nothing more.
        log.warning("return.parcel_already_received", rma_id=str(rma.rma_id), state=rma.state)
        return
    received: dict[str, int] = {}
    damaged: dict[str, int] = {}
    for line in event.lines:
        received[line.sku] = received.get(line.sku, 0) + line.quantity
        if line.condition == "damaged":
            damaged[line.sku] = damaged.get(line.sku, 0) + line.quantity
    await repository.record_parcel(
        rma.rma_id,
        warehouse_id=event.warehouse_id,
        received_at=event.received_at,
        received=received,
        damaged=damaged,
        authorised=await repository.authorised_lines(rma.rma_id),
    )
    rma = await repository.rma(rma.rma_id, for_update=True)
    assert rma is not None
    await _price_and_request_refund(repository, rma, context, clock=clock)


async def _price_and_request_refund(
    repository: ReturnsRepository, rma: Rma, context: HandlerContext, *, clock: Clock
) -> None:
    """Price a received RMA and request its refund (or close / stop it for ops)."""
    now = clock.now()
    snapshot = await repository.order_snapshot(rma.order_id)
    if snapshot is None:
        # The parcel beat OrderPlaced (events cross topics in any order): the refund is
        # priced when the order arrives (record_order_placed).
        log.info("return.refund_awaits_order", rma_id=str(rma.rma_id))
        return
    previous, shipping_done = await repository.previously_refunded_units(rma.order_id, rma.rma_id)
    outcome = plan_refund(
        snapshot,
        await repository.returned_lines(rma.rma_id),
        previously_refunded=previous,
        shipping_already_refunded=shipping_done,
        refundable=await repository.refundable(rma.order_id, snapshot),
    )
    if isinstance(outcome, RefundRefusal):
        await repository.set_state(
            rma.rma_id, RmaState.REFUND_FAILED, at=now, problem=(outcome.code, outcome.message)
        )
        log.warning("return.refund_stopped", rma_id=str(rma.rma_id), code=outcome.code)
        return
    await repository.record_pricing(
        rma.rma_id,
        currency=snapshot.currency,
        line_amounts={line.sku: line.amount for line in outcome.lines},
        amount=outcome.amount,
        shipping_refund=outcome.shipping_refund,
    )
    if outcome.amount.is_zero:
        await repository.set_state(rma.rma_id, RmaState.CLOSED, at=now)
        log.info("return.closed_nothing_to_refund", rma_id=str(rma.rma_id))
        return
    await _request_refund(
        repository,
        rma,
        outcome,
        attempt=rma.refund_attempts + 1,
        outbox=context.outbox,
        causation_id=str(context.envelope.event_id),
        clock=clock,
    )


async def _request_refund(
    repository: ReturnsRepository,
    rma: Rma,
    plan: RefundPlan,
    *,
    attempt: int,
    outbox: Outbox,
    causation_id: str | None,
    clock: Clock,
) -> uuid.UUID:
    refund_id = refund_id_for(rma.rma_id, attempt)
    await repository.start_refund(
        refund_id=refund_id,
        rma_id=rma.rma_id,
        order_id=rma.order_id,
        attempt=attempt,
        amount=plan.amount,
        shipping_refund=plan.shipping_refund,
        at=clock.now(),
    )
    await outbox.add(
        repository.connection,
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
        causation_id=causation_id,
    )
    log.info("return.refund_requested", rma_id=str(rma.rma_id), amount=str(plan.amount))
    return refund_id


async def settle_refund_issued(
    event: RefundIssued, context: HandlerContext, *, clock: Clock
) -> None:
    """The money went back: close the RMA. A refund we did not ask for still counts against
    the order's ceiling."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    refund = await repository.refund(event.refund_id, for_update=True)
    if refund is None:
        await repository.record_external_refund(
            event.refund_id, event.order_id, event.amount, context.envelope.occurred_at
        )
        return
    if refund.state == "issued":
        return
    await repository.settle_refund(event.refund_id, "issued", at=context.envelope.occurred_at)
    if refund.rma_id is None:
        return
    rma = await repository.rma(refund.rma_id, for_update=True)
    if rma is not None and can_move(rma.state, RmaState.CLOSED):
        await repository.set_state(rma.rma_id, RmaState.CLOSED, at=clock.now())
        log.info("return.closed", rma_id=str(rma.rma_id))


async def settle_refund_failed(
    event: RefundFailed, context: HandlerContext, *, clock: Clock
) -> None:
    """Payment could not refund: the RMA waits for ops (``rmas --state refund_failed``)."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    refund = await repository.refund(event.refund_id, for_update=True)
    if refund is None or refund.state != "requested":
        return  # not ours, or already settled: nothing changes
    failure = (event.reason_code, event.message)
    await repository.settle_refund(
        event.refund_id, "failed", at=context.envelope.occurred_at, failure=failure
    )
    if refund.rma_id is None:
        return
    rma = await repository.rma(refund.rma_id, for_update=True)
    if (
        rma is not None
        and rma.current_refund_id == event.refund_id
        and can_move(rma.state, RmaState.REFUND_FAILED)
    ):
        await repository.set_state(
            rma.rma_id, RmaState.REFUND_FAILED, at=clock.now(), problem=failure
        )
        log.warning("return.refund_failed", rma_id=str(rma.rma_id), code=event.reason_code)


@dataclass(frozen=True)
class RetryOutcome:
    ok: bool
    message: str
    refund_id: uuid.UUID | None = None


async def retry_failed_refund(
    rma_id: uuid.UUID, *, connection: Connection, outbox: Outbox, clock: Clock
) -> RetryOutcome:
    """Ops: request a failed RMA's refund again, under a new refund id (attempt n + 1).

    Runs in the caller's transaction. The ceiling is checked again, so a retry never takes the
    order above what was paid.
    """
    repository = ReturnsRepository(connection, outbox.schema)
    found = await repository.rma(rma_id)
    if found is None:
        return RetryOutcome(False, f"no RMA {rma_id}")
    await repository.lock_order(found.order_id)
    rma = await repository.rma(rma_id, for_update=True)
    assert rma is not None
    if rma.state != RmaState.REFUND_FAILED:
        return RetryOutcome(False, f"RMA {rma_id} is {rma.state.value}, not refund_failed")
    snapshot = await repository.order_snapshot(rma.order_id)
    if snapshot is None:
        return RetryOutcome(False, f"order {rma.order_id} is still unknown (no OrderPlaced)")
    priced = await repository.priced_refund(rma.rma_id)
    if priced is None:
        # Stopped before pricing (e.g. a SKU missing from the order): price it afresh.
        previous, shipping_done = await repository.previously_refunded_units(
            rma.order_id, rma.rma_id
        )
        outcome = plan_refund(
            snapshot,
            await repository.returned_lines(rma.rma_id),
            previously_refunded=previous,
            shipping_already_refunded=shipping_done,
            refundable=await repository.refundable(rma.order_id, snapshot),
        )
        if isinstance(outcome, RefundRefusal):
            return RetryOutcome(False, f"{outcome.code}: {outcome.message}")
        await repository.record_pricing(
            rma.rma_id,
            currency=snapshot.currency,
            line_amounts={line.sku: line.amount for line in outcome.lines},
            amount=outcome.amount,
            shipping_refund=outcome.shipping_refund,
        )
        plan = outcome
    else:
        amount, shipping, line_amounts = priced
        refundable = await repository.refundable(rma.order_id, snapshot)
        if amount > refundable:
            return RetryOutcome(
                False, f"exceeds_paid: {amount} requested, {refundable} left to refund"
            )
        returned = await repository.returned_lines(rma.rma_id)
        plan = RefundPlan(
            tuple(RefundedLine(sku, returned[sku], line_amounts[sku]) for sku in sorted(returned)),
            shipping,
            amount,
            whole_order_back=False,
        )
    if plan.amount.is_zero:
        await repository.set_state(rma.rma_id, RmaState.CLOSED, at=clock.now())
        return RetryOutcome(True, f"RMA {rma_id} closed: nothing to refund")
    refund_id = await _request_refund(
        repository,
        rma,
        plan,
        attempt=rma.refund_attempts + 1,
        outbox=outbox,
        causation_id=None,
        clock=clock,
    )
    return RetryOutcome(True, f"refund {refund_id} requested for {plan.amount}", refund_id)


# ------------------------------------------------------------------ international warranty


async def file_warranty_claim(
    event: WarrantyClaimFiled, context: HandlerContext, *, policy: ReturnsPolicy, clock: Clock
) -> None:
    """Accept (and ask fulfillment for a replacement) or reject a defect claim."""
    repository = _repository(context)
    await repository.lock_order(event.order_id)
    if await repository.claim_known(event.order_id, event.claim_id):
        log.info("warranty.claim_already_answered", claim_id=event.claim_id)
        return
    now = clock.now()
    at = judged_at(context.envelope.occurred_at, now)
    decision = decide_claim(
        sku=event.sku,
        quantity=event.quantity,
        country_of_usage=event.country_of_usage,
        facts=await repository.claim_facts(event.order_id, event.sku),
        at=at,
        window=policy.window,
        policy=policy.warranty,
        customer_id=event.customer_id,
    )
    if isinstance(decision, ClaimAcceptance):
        await repository.record_claim(
            event,
            filed_at=at,
            decided_at=now,
            outcome="accepted",
            term_months=decision.term.months,
            warranty_ends_on=decision.warranty_ends_on,
            units=range(decision.first_unit, decision.last_unit + 1),
        )
        await context.emit(
            WarrantyClaimAccepted(
                order_id=event.order_id,
                claim_id=event.claim_id,
                sku=event.sku,
                quantity=event.quantity,
                country_of_usage=event.country_of_usage,
                warranty_ends_on=decision.warranty_ends_on,
            )
        )
        await context.emit(
            ReplacementRequested(
                order_id=event.order_id,
                claim_id=event.claim_id,
                lines=[LineQuantity(sku=event.sku, quantity=event.quantity)],
                ship_to=await repository.ship_to(event.order_id),
            )
        )
        log.info("warranty.accepted", claim_id=event.claim_id, units=event.quantity)
        return
    await repository.record_claim(
        event,
        filed_at=at,
        decided_at=now,
        outcome="rejected",
        reason_code=decision.code.value,
        message=decision.message,
    )
    await context.emit(
        WarrantyClaimRejected(
            order_id=event.order_id,
            claim_id=event.claim_id,
            reason_code=decision.code.value,
            message=decision.message,
        )
    )
    log.info("warranty.rejected", claim_id=event.claim_id, reason_code=decision.code.value)

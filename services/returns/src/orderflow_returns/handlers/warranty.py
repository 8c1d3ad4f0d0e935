"""A warranty claim: accepted (with a replacement) or rejected, by the country of usage."""

from __future__ import annotations

from datetime import datetime

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import (
    LineQuantity,
    ReplacementRequested,
    WarrantyClaimAccepted,
    WarrantyClaimFiled,
    WarrantyClaimRejected,
)

from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.domain.warranty import ClaimAcceptance, decide_claim
from orderflow_returns.domain.window import judged_at
from orderflow_returns.handlers._facts import cause_of, claim_facts
from orderflow_returns.handlers._holding import first_wait, held_for_a_delivery
from orderflow_returns.ports import ReturnsRepositories

log = structlog.get_logger(__name__)


async def file_warranty_claim(
    event: WarrantyClaimFiled, uow: UnitOfWork[ReturnsRepositories], *, policy: ReturnsPolicy
) -> None:
    """Accept (and ask fulfillment for a replacement) or reject a defect claim; one that finds
    no delivery yet waits for it (``policy.delivery_wait``, see ``held_requests.py``)."""
    await judge_claim(event, uow, policy=policy, hold_until=first_wait(uow, policy.delivery_wait))


async def judge_claim(
    event: WarrantyClaimFiled,
    uow: UnitOfWork[ReturnsRepositories],
    *,
    policy: ReturnsPolicy,
    hold_until: datetime | None,
) -> None:
    """Accept or reject the claim ``uow.cause`` carries, or hold it until ``hold_until`` when
    it waits for a delivery (None: judge it now, whatever is known)."""
    repos = uow.repos
    await repos.orders.lock(event.order_id)
    if await repos.warranty_claims.known(event.order_id, event.claim_id):
        log.info("warranty.claim_already_answered", claim_id=event.claim_id)
        return
    at = judged_at(cause_of(uow).occurred_at, uow.now)
    decision = decide_claim(
        sku=event.sku,
        quantity=event.quantity,
        country_of_usage=event.country_of_usage,
        facts=await claim_facts(repos, event.order_id, event.sku, at=at, policy=policy),
        at=at,
        window=policy.window,
        policy=policy.warranty,
        customer_id=event.customer_id,
    )
    awaits_delivery = decision.may_await_delivery
    if await held_for_a_delivery(uow, awaits_delivery, event, hold_until):
        return
    if isinstance(decision, ClaimAcceptance):
        await repos.warranty_claims.record(
            event,
            filed_at=at,
            decided_at=uow.now,
            outcome="accepted",
            term_months=decision.term.months,
            warranty_ends_on=decision.warranty_ends_on,
            units=range(decision.first_unit, decision.last_unit + 1),
        )
        await uow.emit(
            WarrantyClaimAccepted(
                order_id=event.order_id,
                claim_id=event.claim_id,
                sku=event.sku,
                quantity=event.quantity,
                country_of_usage=event.country_of_usage,
                warranty_ends_on=decision.warranty_ends_on,
            )
        )
        await uow.emit(
            ReplacementRequested(
                order_id=event.order_id,
                claim_id=event.claim_id,
                lines=[LineQuantity(sku=event.sku, quantity=event.quantity)],
                ship_to=await repos.orders.ship_to(event.order_id),
            )
        )
        log.info("warranty.accepted", claim_id=event.claim_id, units=event.quantity)
        return
    await repos.warranty_claims.record(
        event,
        filed_at=at,
        decided_at=uow.now,
        outcome="rejected",
        reason_code=decision.code.value,
        message=decision.message,
    )
    await uow.emit(
        WarrantyClaimRejected(
            order_id=event.order_id,
            claim_id=event.claim_id,
            reason_code=decision.code.value,
            message=decision.message,
        )
    )
    log.info("warranty.rejected", claim_id=event.claim_id, reason_code=decision.code.value)

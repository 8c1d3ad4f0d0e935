"""What the return and warranty decisions are taken on, read from the repositories."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.envelope import Envelope

from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.domain.returns import OrderFacts, returnable_units, still_taken_back
from orderflow_returns.domain.warranty import ClaimFacts
from orderflow_returns.ports import ReturnsRepositories


def cause_of(uow: UnitOfWork[Any]) -> Envelope:
    """The envelope an event handler applies (when and in which journey the fact happened)."""
    if uow.cause is None:
        raise RuntimeError("an event handler needs the event's envelope as its unit's cause")
    return uow.cause


async def order_facts(
    repos: ReturnsRepositories, order_id: uuid.UUID, *, at: datetime, policy: ReturnsPolicy
) -> OrderFacts:
    """The order as known now, for a request judged at ``at`` (RMAs whose parcel never came
    have let their units go by then, see ``still_taken_back``; units replaced under warranty
    are the customer's no longer)."""
    customer_id = await repos.orders.customer_of(order_id)
    returns = still_taken_back(
        await repos.rmas.earlier_returns(order_id),
        at=at,
        window=policy.window,
        return_shipping_days=policy.return_shipping_days,
    )
    ordered = await repos.orders.ordered_units(order_id)
    deliveries = tuple(await repos.orders.deliveries(order_id))
    replaced = {}
    for sku in sorted({*ordered, *(d.sku for d in deliveries)}):
        if units := await repos.warranty_claims.claimed_units(order_id, sku):
            replaced[sku] = units
    return OrderFacts(
        order_placed=customer_id is not None,
        ordered=ordered,
        deliveries=deliveries,
        returns=returns,
        customer_id=customer_id,
        replaced=replaced,
    )


async def claim_facts(
    repos: ReturnsRepositories,
    order_id: uuid.UUID,
    sku: str,
    *,
    at: datetime,
    policy: ReturnsPolicy,
) -> ClaimFacts:
    facts = await order_facts(repos, order_id, at=at, policy=policy)
    return ClaimFacts(
        order_placed=facts.order_placed,
        ordered=facts.ordered,
        deliveries=tuple(d for d in facts.deliveries if d.sku == sku),
        returned_units=facts.returned(sku),
        claimed_units=await repos.warranty_claims.claimed_units(order_id, sku),
        returnable_now=returnable_units(facts.received_by(at), sku, at, policy.window),
        customer_id=facts.customer_id,
    )

"""Facts other services publish about an order, remembered for later decisions: what was
bought and paid (cart), delivered (fulfillment) and captured (payment)."""

from __future__ import annotations

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import OrderPlaced, PaymentCaptured, ShipmentDelivered

from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers._facts import cause_of
from orderflow_returns.handlers._refunding import price_and_request_refund
from orderflow_returns.handlers.held_requests import judge_held_requests
from orderflow_returns.ports import ReturnsRepositories


async def record_order_placed(
    event: OrderPlaced, uow: UnitOfWork[ReturnsRepositories], *, policy: ReturnsPolicy
) -> None:
    """Remember what was bought and paid; price any parcel that arrived before the order, and
    judge again requests that were waiting for it."""
    repos = uow.repos
    await repos.orders.lock(event.order_id)
    if not await repos.orders.record_order(event, cause_of(uow).occurred_at):
        return
    for rma_id in await repos.rmas.in_state(event.order_id, RmaState.RECEIVED):
        rma = await repos.rmas.get(rma_id, for_update=True)
        assert rma is not None
        await price_and_request_refund(uow, rma)
    await judge_held_requests(uow, event.order_id, policy=policy)


async def record_shipment_delivered(
    event: ShipmentDelivered, uow: UnitOfWork[ReturnsRepositories], *, policy: ReturnsPolicy
) -> None:
    """Remember which units reached the customer and when: it opens their return window.
    Requests of the order that were waiting for a delivery are judged again."""
    await uow.repos.orders.lock(event.order_id)
    # The contract lets a SKU come on several lines: stored per (shipment, SKU), they are
    # summed first (the store kept the first line's units and dropped the others').
    units: dict[str, int] = {}
    for line in event.lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    await uow.repos.orders.record_delivery(
        event.order_id,
        event.shipment_id,
        list(units.items()),
        event.delivered_at,
        replacement=event.replacement,
    )
    await judge_held_requests(uow, event.order_id, policy=policy)


async def record_payment_captured(
    event: PaymentCaptured, uow: UnitOfWork[ReturnsRepositories]
) -> None:
    """Remember what was charged: refunds of the order never exceed it."""
    await uow.repos.orders.lock(event.order_id)
    await uow.repos.orders.record_capture(event.order_id, event.payment_id, event.amount)

"""A returned parcel reached the warehouse: record what came back and request its refund."""

from __future__ import annotations

import structlog
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import ReturnParcelReceived

from orderflow_returns.domain.rma import RmaState, can_move
from orderflow_returns.handlers._refunding import price_and_request_refund
from orderflow_returns.ports import ReturnsRepositories

log = structlog.get_logger(__name__)


async def receive_return_parcel(
    event: ReturnParcelReceived, uow: UnitOfWork[ReturnsRepositories]
) -> None:
    """The parcel is in: refund what came back (at most what was authorised)."""
    repos = uow.repos
    found = await repos.rmas.get(event.rma_id)
    if found is None:
        raise PermanentError(
            "unknown_rma", f"no RMA {event.rma_id}: a parcel must quote an authorised RMA id"
        )
    # The parcel names the RMA, not the order: learn the order, lock it, then read the RMA
    # again under that lock.
    await repos.orders.lock(found.order_id)
    rma = await repos.rmas.get(event.rma_id, for_update=True)
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
    await repos.rmas.record_parcel(
        rma.rma_id,
        warehouse_id=event.warehouse_id,
        received_at=event.received_at,
        received=received,
        damaged=damaged,
        authorised=await repos.rmas.authorised_lines(rma.rma_id),
    )
    rma = await repos.rmas.get(rma.rma_id, for_update=True)
    assert rma is not None
    await price_and_request_refund(uow, rma)

"""Holding a request that came before the delivery it is judged on.

Events reach the service in any order across topics (and a consumer's fetches can bring a
newer record of one partition before an older one of another), so a return request or a
warranty claim can be judged before the ``ShipmentDelivered`` (or ``OrderPlaced``) it needs,
and be rejected though the parcel was delivered first. Such a request is held instead: judged
again when a delivery of its order arrives, and for the last time when its wait ends
(``handlers/held_requests.py``). Only the answers a missing fact can cause wait (the domain
says which: ``may_await_delivery``): no order, nothing delivered, or too few units or units
past their window while more of that SKU are still to be delivered (a split shipment's next
parcel), or a return refused for good whose code such a line could still change, or a
warranty claim accepted while such a parcel may come (it could make it a return, or start a
later term); every other answer is final at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import ReturnRequested, WarrantyClaimFiled

from orderflow_returns.domain.window import judged_at
from orderflow_returns.handlers._facts import cause_of
from orderflow_returns.ports import HeldRequest, RequestKind, ReturnsRepositories

log = structlog.get_logger(__name__)


async def held_for_a_delivery(
    uow: UnitOfWork[ReturnsRepositories],
    awaits_delivery: bool,
    event: ReturnRequested | WarrantyClaimFiled,
    hold_until: datetime | None,
) -> bool:
    """Hold the request ``uow.cause`` carries (``event``), and say so, when it was refused for
    a reason a fact not read yet could explain (``awaits_delivery``) and it may wait
    (``hold_until``, the end of its wait, even past: only the job judges a request for good,
    once what was published by then was read; None when it may wait no more). A redelivered
    request keeps its first wait."""
    if not awaits_delivery or hold_until is None:
        return False
    kind: RequestKind
    if isinstance(event, ReturnRequested):
        kind, request_id = "return", event.return_request_id
    else:
        kind, request_id = "warranty_claim", event.claim_id
    request = cause_of(uow)
    # A request stamped ahead of our clock is judged as made when first read (judged_at):
    # kept with its own stamp, it was judged again after its wait at that later stamp, and an
    # on-time return made on the window's last day was refused as late. Kept as it came,
    # unless a field the contract does not define holds what cannot be stored (``kept``).
    first_read = request.kept(event).model_copy(
        update={"occurred_at": judged_at(request.occurred_at, uow.now)}
    )
    await uow.repos.held_requests.hold(
        HeldRequest(event.order_id, kind, request_id, first_read.model_dump_json(), hold_until)
    )
    log.info("returns.request_held", kind=kind, request_id=request_id, until=hold_until.isoformat())
    return True


def first_wait(uow: UnitOfWork[ReturnsRepositories], delivery_wait: timedelta) -> datetime | None:
    """The end of a new request's wait; None when the policy waits for nothing."""
    return uow.now + delivery_wait if delivery_wait > timedelta(0) else None

"""Holding a request that came before the delivery it is judged on.

Events reach the service in any order across topics (and a consumer's fetches can bring a
newer record of one partition before an older one of another), so a return request or a
warranty claim can be judged before the ``ShipmentDelivered`` (or ``OrderPlaced``) it needs,
and be rejected though the parcel was delivered first. Such a request is held instead: judged
again when a delivery of its order arrives, and for the last time when its wait ends
(``handlers/held_requests.py``). Only the answers a missing fact can cause wait; every other
rejection is final at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

import structlog
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import ReturnRejectionCode, WarrantyRejectionCode

from orderflow_returns.handlers._facts import cause_of
from orderflow_returns.ports import HeldRequest, RequestKind, ReturnsRepositories

log = structlog.get_logger(__name__)

# What a delivery (or the order) not known yet would answer.
WAITS_FOR_A_DELIVERY: Final = frozenset(
    {
        ReturnRejectionCode.UNKNOWN_ORDER,
        ReturnRejectionCode.NOT_DELIVERED,
        WarrantyRejectionCode.UNKNOWN_ORDER,
        WarrantyRejectionCode.NOT_DELIVERED,
    }
)


async def held_for_a_delivery(
    uow: UnitOfWork[ReturnsRepositories],
    refusal: str | None,
    kind: RequestKind,
    order_id: uuid.UUID,
    request_id: str,
    hold_until: datetime | None,
) -> bool:
    """Hold the request ``uow.cause`` carries, and say so, when its refusal (a reason code;
    None when it is not refused) is one a fact not read yet could explain and its wait
    (``hold_until``; None when it may wait no more) is not over. A redelivered request keeps
    its first wait."""
    if refusal not in WAITS_FOR_A_DELIVERY or hold_until is None or uow.now >= hold_until:
        return False
    await uow.repos.held_requests.hold(
        HeldRequest(order_id, kind, request_id, cause_of(uow).model_dump_json(), hold_until)
    )
    log.info("returns.request_held", kind=kind, request_id=request_id, until=hold_until.isoformat())
    return True

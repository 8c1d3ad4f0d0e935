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


def may_hold(code: str, now: datetime, hold_until: datetime) -> bool:
    return code in WAITS_FOR_A_DELIVERY and now < hold_until


async def hold(
    uow: UnitOfWork[ReturnsRepositories],
    kind: RequestKind,
    order_id: uuid.UUID,
    request_id: str,
    hold_until: datetime,
) -> None:
    """Keep the request ``uow.cause`` carries until ``hold_until`` (a redelivered request
    keeps its first wait)."""
    await uow.repos.held_requests.hold(
        HeldRequest(order_id, kind, request_id, cause_of(uow).model_dump_json(), hold_until)
    )
    log.info("returns.request_held", kind=kind, request_id=request_id, until=hold_until.isoformat())

"""Input fulfillment cannot apply: recorded as an anomaly, or refused when configuration is
missing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

import structlog
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.unit_of_work import UnitOfWork
from pydantic import BaseModel

from orderflow_fulfillment.domain.shipments import AnomalyReason
from orderflow_fulfillment.domain.stock import CLOCK_AHEAD_TOLERANCE
from orderflow_fulfillment.ports import FulfillmentRepositories

log = structlog.get_logger(__name__)


async def record_anomaly(
    uow: UnitOfWork[FulfillmentRepositories],
    reason: AnomalyReason,
    *,
    order_id: uuid.UUID | None = None,
    shipment_id: uuid.UUID | None = None,
    rma_id: uuid.UUID | None = None,
    warehouse_id: str | None = None,
    sku: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Keep what did not fit (and the event that brought it) for ops, and log it."""
    about: dict[str, Any] = {
        "order_id": order_id,
        "shipment_id": shipment_id,
        "rma_id": rma_id,
        "warehouse_id": warehouse_id,
        "sku": sku,
        "detail": detail,
    }
    log.warning(
        "fulfillment.anomaly",
        reason=reason.value,
        **{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in about.items() if v is not None},
    )
    await uow.repos.anomalies.record(
        reason,
        cause=uow.cause,
        order_id=order_id,
        shipment_id=shipment_id,
        rma_id=rma_id,
        warehouse_id=warehouse_id,
        sku=sku,
        detail=detail,
    )


async def require_warehouse(uow: UnitOfWork[FulfillmentRepositories], warehouse_id: str) -> None:
    """Stock movements of a warehouse we do not know are dead-lettered: ops add it, replay."""
    if not await uow.repos.stock.warehouse_exists(warehouse_id):
        raise PermanentError(
            "unknown_warehouse",
            f"warehouse {warehouse_id} is not configured in fulfillment; add it "
            "(orderflow-fulfillment stock load) and replay this dead letter",
        )


_Report = TypeVar("_Report", bound=BaseModel)


def too_far_ahead(uow: UnitOfWork[FulfillmentRepositories], stamped: datetime) -> bool:
    """Whether a warehouse time is more than ``CLOCK_AHEAD_TOLERANCE`` ahead of ours: wrong."""
    return stamped - uow.now > CLOCK_AHEAD_TOLERANCE


async def stamped_by_now(
    uow: UnitOfWork[FulfillmentRepositories], report: _Report, field: str, **about: Any
) -> _Report:
    """``report`` (a movement: it happened, and must apply) with its warehouse time ``field``
    taken as now when it is too far ahead (recorded: ``clock_ahead``). Stock orders counts and
    movements by these times: a dispatch stamped in 2099 would look newer than every later
    count, and a delivery so stamped would hold the return window open for decades."""
    stamped = getattr(report, field)
    if not too_far_ahead(uow, stamped):
        return report
    await record_clock_ahead(uow, field, stamped, **about)
    return report.model_copy(update={field: uow.now})


async def not_before(
    uow: UnitOfWork[FulfillmentRepositories],
    report: _Report,
    field: str,
    *,
    requested_at: datetime | None,
    left_at: datetime | None = None,
    **about: Any,
) -> _Report:
    """``report`` with its warehouse time ``field`` raised when it is impossible (recorded:
    ``clock_behind``): a parcel cannot arrive before it left (``left_at``, the warehouse's
    time), nor leave before its shipment was asked of the warehouse (``requested_at``, our
    clock). Stock orders movements and counts by these times, so a dispatch stamped in 1970
    looked older than every count and was taken as already counted: its units stayed on sale
    (oversold); a delivery so stamped closed the return window before the order was placed.

    A warehouse's clock may lag ours a little, and a report a little before the request is
    compared with counts stamped by the same clock: only one more than
    ``CLOCK_AHEAD_TOLERANCE`` before it is wrong. It happened at some time between the
    request and now, and is taken as made now (when it is not known when the parcel left):
    taken as made at the request, a count between the request and the real dispatch, which
    still found the units, looked later than the dispatch, and they stayed on sale. Taken as
    now, a dispatch comes off the shelf once more than a count in between saw: stock errs
    low until the next count, never high, and the return window opens late, never early."""
    stamped: datetime = getattr(report, field)
    taken = stamped
    if left_at is not None:
        taken = max(taken, left_at)
    elif requested_at is not None and stamped < requested_at - CLOCK_AHEAD_TOLERANCE:
        taken = uow.now
    if taken == stamped:
        return report
    await record_anomaly(
        uow,
        AnomalyReason.CLOCK_BEHIND,
        detail={field: stamped.isoformat(), "taken_as": taken.isoformat()},
        **about,
    )
    return report.model_copy(update={field: taken})


def stock_time(
    uow: UnitOfWork[FulfillmentRepositories], reported: datetime, taken: datetime
) -> datetime:
    """Where stock places a dispatch whose warehouse time (``reported``) was wrong and taken as
    read (``taken``, our clock). Counts carry the warehouse's clock, which may run up to
    ``CLOCK_AHEAD_TOLERANCE`` ahead of ours: at our time, a dispatch looked older than a count
    made before it but stamped ahead, was taken as already counted, and its units stayed on
    sale. At the latest time that clock could have stamped it, a count in between is taken as
    made before it: on-hand errs low until the next count, never high."""
    if taken == uow.now and reported != taken:
        return taken + CLOCK_AHEAD_TOLERANCE
    return taken


async def record_clock_ahead(
    uow: UnitOfWork[FulfillmentRepositories], field: str, stamped: datetime, **about: Any
) -> None:
    await record_anomaly(
        uow,
        AnomalyReason.CLOCK_AHEAD,
        detail={field: stamped.isoformat(), "read_at": uow.now.isoformat()},
        **about,
    )

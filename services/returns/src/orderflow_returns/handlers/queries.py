"""What ops read: RMAs by state or order (``rmas`` command, ``GET /rmas``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from orderflow_chassis.unit_of_work import UnitOfWork

from orderflow_returns.ports import ReturnsRepositories, RmaQuery

ListRmas = Callable[[RmaQuery, UnitOfWork[ReturnsRepositories]], Awaitable[list[dict[str, Any]]]]
FindRma = Callable[[uuid.UUID, UnitOfWork[ReturnsRepositories]], Awaitable[dict[str, Any] | None]]


async def list_rmas(query: RmaQuery, uow: UnitOfWork[ReturnsRepositories]) -> list[dict[str, Any]]:
    """RMAs, most recently changed first, with their lines, refund and problem."""
    return await uow.repos.reports.rmas(query)


async def find_rma(
    rma_id: uuid.UUID, uow: UnitOfWork[ReturnsRepositories]
) -> dict[str, Any] | None:
    """One RMA as ops see it; None when there is no such RMA."""
    found = await uow.repos.reports.rmas(RmaQuery(rma_id=rma_id, limit=1))
    return found[0] if found else None

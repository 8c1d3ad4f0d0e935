"""Read-only HTTP for ops: RMAs by state (e.g. the refunds that failed)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from orderflow_chassis.runtime import RuntimeResources

from orderflow_returns.adapters.repository import ReturnsRepository
from orderflow_returns.domain.rma import RmaState

router = APIRouter(prefix="/rmas", tags=["rmas"])


@router.get("")
async def list_rmas(
    request: Request,
    state: RmaState | None = None,
    order_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """RMAs, most recently changed first; `state=refund_failed` lists what ops must handle."""
    resources: RuntimeResources = request.app.state.resources
    async with resources.pool.acquire() as connection:
        repository = ReturnsRepository(connection, resources.settings.db_schema)
        return await repository.list_rmas(state=state, order_id=order_id, limit=limit)


@router.get("/{rma_id}")
async def get_rma(request: Request, rma_id: uuid.UUID) -> dict[str, Any]:
    resources: RuntimeResources = request.app.state.resources
    async with resources.pool.acquire() as connection:
        repository = ReturnsRepository(connection, resources.settings.db_schema)
        found = await repository.list_rmas(rma_id=rma_id, limit=1)
    if not found:
        raise HTTPException(status_code=404, detail=f"no RMA {rma_id}")
    return found[0]

"""Read-only HTTP for ops: RMAs by state (e.g. the refunds that failed)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from orderflow_chassis.service_definition import RuntimeResources

from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.queries import FindRma, ListRmas
from orderflow_returns.ports import RmaQuery


def rma_router(*, list_rmas: ListRmas, find_rma: FindRma) -> APIRouter:
    router = APIRouter(prefix="/rmas", tags=["rmas"])

    @router.get("")
    async def list_rmas_route(
        request: Request,
        state: RmaState | None = None,
        order_id: uuid.UUID | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """RMAs, most recently changed first; `state=refund_failed` lists what ops must handle."""
        resources: RuntimeResources = request.app.state.resources
        async with resources.transactions.begin(read_only=True) as uow:
            return await list_rmas(RmaQuery(state=state, order_id=order_id, limit=limit), uow)

    @router.get("/{rma_id}")
    async def get_rma(request: Request, rma_id: uuid.UUID) -> dict[str, Any]:
        resources: RuntimeResources = request.app.state.resources
        async with resources.transactions.begin(read_only=True) as uow:
            found = await find_rma(rma_id, uow)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no RMA {rma_id}")
        return found

    return router

"""Live pages: one server-sent-events stream per open page, a ``change`` event after each
change of what the console knows; the page then fetches itself and swaps its live part."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from orderflow_ops.console.web_common import Console, Viewer, console_router

KEEPALIVE_S = 15.0
COALESCE_S = 1.0  # a burst of changes becomes one refresh, still within the 2 s promise


def live_router(console: Console) -> APIRouter:
    router = console_router(console)

    @router.get("/live")
    async def live(request: Request, _: Viewer) -> StreamingResponse:
        changes = console.status.changes

        async def stream() -> AsyncIterator[str]:
            seen = changes.version
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                console.status.attention.looked()  # an open page is being looked at
                current = await changes.wait_past(seen, KEEPALIVE_S)
                if current == seen:
                    yield ": keepalive\n\n"
                    continue
                await asyncio.sleep(COALESCE_S)
                seen = changes.version
                yield f"event: change\ndata: {seen}\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router

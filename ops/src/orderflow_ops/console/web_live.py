"""Live pages: one server-sent-events stream per open page, a ``change`` event after each
change of what the console knows; the page then fetches itself and swaps its live part.

Bounded like the cart's order feeds (:mod:`orderflow_chassis.live_feeds`): an instance serves at
most ``CONSOLE_LIVE_MAX_OPEN`` streams (one more is answered 503 with ``Retry-After``), and a
stream ends at its lifetime or when its session expires, whichever comes first. The page's
``EventSource`` then reconnects, and the new stream checks the session again: an expired one
gets 401."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from orderflow_chassis.live_feeds import FeedLimits, FeedResponse, FeedSlots

from orderflow_ops.console.web_common import Console, Viewer, console_router

KEEPALIVE_S = 15.0
COALESCE_S = 1.0  # a burst of changes becomes one refresh, still within the 2 s promise


def live_router(console: Console, limits: FeedLimits | None = None) -> APIRouter:
    router = console_router(console)
    limits = limits or FeedLimits(keep_alive_s=KEEPALIVE_S)
    slots = FeedSlots(limits.max_open)

    @router.get("/live")
    async def live(request: Request, session: Viewer) -> FeedResponse:
        changes = console.status.changes
        ends_at = min(time.monotonic() + limits.lifetime_s(), _monotonic(session.expires_at))

        async def stream() -> AsyncIterator[str]:
            seen = changes.version
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                left_s = ends_at - time.monotonic()
                if left_s <= 0:
                    return  # the page reconnects, and its session is checked again
                console.status.attention.looked()  # an open page is being looked at
                current = await changes.wait_past(seen, min(limits.keep_alive_s, left_s))
                if current == seen:
                    yield ": keepalive\n\n"
                    continue
                await asyncio.sleep(COALESCE_S)
                seen = changes.version
                yield f"event: change\ndata: {seen}\n\n"

        if not slots.take():
            raise slots.full("live pages")
        return FeedResponse(stream(), release=slots.give_back)

    return router


def _monotonic(wall_clock: float) -> float:
    """``wall_clock`` (seconds since the epoch) on the monotonic clock the stream counts with."""
    return time.monotonic() + (wall_clock - time.time())

"""What bounds the live feeds (server-sent events) of one instance: how many are open at once
and how long each lives (decision 66). An open feed holds a connection and reads the database
at its changes and keep-alives, so their number is the instance's load; a feed that never ends
stays on the instance it first reached, however many instances are added since, and outlives
whatever was checked when it opened (a session). The cart's order feeds and the console's live
pages share them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

# What a refused client is told to wait: feeds end all the time (at their lifetime at the
# latest), so a slot is soon free, here or on another instance.
RETRY_AFTER_S = 10
# Feeds opened together (after a deploy, say) must not all end, and reconnect, together.
LIFETIME_SPREAD = 0.1


@dataclass(frozen=True)
class FeedLimits:
    keep_alive_s: float = 15.0
    max_open: int = 500
    max_lifetime_s: float = 900.0

    def lifetime_s(self) -> float:
        """One feed's: between 90 % and 100 % of the maximum."""
        return self.max_lifetime_s * random.uniform(1 - LIFETIME_SPREAD, 1)  # noqa: S311 - jitter


class FeedSlots:
    """The feeds this instance serves: no more than ``limit`` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken -= 1

    def full(self, feeds: str, *, or_else: str = "") -> HTTPException:
        """The 503 of a feed refused because every slot is taken: retry in a while."""
        return HTTPException(
            503,
            f"this instance already serves {self.limit} {feeds}: retry after {RETRY_AFTER_S} s"
            + (f", {or_else}" if or_else else ""),
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


class FeedResponse(StreamingResponse):
    """A feed's server-sent events, giving its slot back when the response ends, however it
    ends: the feed's end, the client leaving, or the stream never started."""

    def __init__(self, events: AsyncIterator[str], *, release: Callable[[], None]) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()

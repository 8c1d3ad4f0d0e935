"""The console's live-page streams are bounded: how many one instance serves, how long each
lives, and never past the session that opened it (real broker and database)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from orderflow_chassis.waiting import wait_at_most
from orderflow_localinfra.discovery import Infrastructure

from ops.tests.console.console_harness import running_console
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration


async def _until_closed(lines: AsyncIterator[str], within_s: float) -> float:
    """Read a stream to its end; how long that took."""
    began = time.monotonic()

    async def drain() -> None:
        async for _ in lines:
            pass

    await wait_at_most(within_s, drain())
    return time.monotonic() - began


async def test_one_stream_too_many_is_refused_until_a_stream_ends_at_its_lifetime(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with (
        running_console(
            orderflow_infrastructure,
            unique_prefix("console-live-cap"),
            live_max_open=1,
            live_max_lifetime_s=2.0,
        ) as console,
        console.signed_in("view", "view-secret-2") as viewer,
    ):
        async with viewer.stream("GET", "/live") as first:
            assert first.status_code == 200
            refused = await viewer.get("/live")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "10"
            assert "this instance already serves 1 live pages" in refused.json()["detail"]
            # It ended on its own, at 90-100 % of its lifetime: the slot is free again.
            assert await _until_closed(first.aiter_lines(), within_s=10) < 5
        async with viewer.stream("GET", "/live") as again:
            assert again.status_code == 200


async def test_a_stream_ends_when_its_session_expires_and_cannot_be_reopened(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # Before, a stream opened by a session lived on after the session's end, for ever.
    async with (
        running_console(
            orderflow_infrastructure,
            unique_prefix("console-live-session"),
            session_hours=3 / 3600,
        ) as console,
        console.signed_in("view", "view-secret-2") as viewer,
        viewer.stream("GET", "/live") as stream,
    ):
        assert stream.status_code == 200
        assert await _until_closed(stream.aiter_lines(), within_s=10) < 5
        reopened = await viewer.get("/live", headers={"Accept": "text/event-stream"})
        assert reopened.status_code == 401

"""A storefront's client of the order-status API for the integration tests: authenticated
reads, and a live feed (server-sent events) collected in the background."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import suppress
from typing import Any
from uuid import UUID

import httpx

from tests.support.kafka_tools import eventually

API_TOKEN = "test-storefront-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def collapsed(states: list[str]) -> list[str]:
    """Consecutive repeats folded: events that did not change the state add nothing."""
    return [state for n, state in enumerate(states) if n == 0 or states[n - 1] != state]


class StatusFeed:
    """``GET /orders/{id}/events`` read in the background; every message kept in order."""

    def __init__(self, http: httpx.AsyncClient, order_id: UUID) -> None:
        self._http = http
        self._order_id = order_id
        self.messages: list[dict[str, Any]] = []
        self.ids: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StatusFeed:
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda message: True)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        url = f"/orders/{self._order_id}/events"
        async with self._http.stream("GET", url, headers=AUTH, timeout=None) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in fields:
                        self.ids.append(int(fields["id"]))
                        self.messages.append(json.loads(fields["data"]))
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value

    @property
    def states(self) -> list[str]:
        return [message["state"] for message in self.messages]

    async def wait_for(self, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first message ``accept`` holds for, waiting up to a minute (a busy machine)."""

        async def probe() -> dict[str, Any] | None:
            assert self._task is not None
            if self._task.done():
                self._task.result()  # the reader failed: say why
            return next((m for m in self.messages if accept(m)), None)

        found = await eventually(probe, lambda message: message is not None, timeout_s=60)
        assert found is not None, f"no such message; the feed sent states {self.states}"
        return found

    async def wait_for_state(self, state: str) -> dict[str, Any]:
        return await self.wait_for(lambda message: message["state"] == state)


async def order_when(
    http: httpx.AsyncClient, path: str, accept: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll ``path`` until it answers 200 with a body ``accept`` holds for; return it."""

    async def probe() -> dict[str, Any] | None:
        response = await http.get(path, headers=AUTH)
        return response.json() if response.status_code == 200 else None

    found = await eventually(probe, lambda body: body is not None and accept(body), timeout_s=60)
    assert found is not None, f"{path} never answered as expected"
    return found

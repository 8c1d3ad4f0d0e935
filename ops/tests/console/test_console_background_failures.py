"""A background job of the console meets what it did not expect and goes on: a failed job
stops the whole console (its pages with it)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from orderflow_ops.console import dead_letter_reader
from orderflow_ops.console.probes import probe_service


@pytest.mark.parametrize("answer", [b"null", b"[]", b'"ready"', b"42"])
async def test_a_readiness_answer_that_is_not_an_object_is_reported_not_raised(
    answer: bytes,
) -> None:
    # body.get() raised AttributeError out of the probe round, and the console stopped.
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=answer))
    async with httpx.AsyncClient(transport=transport) as client:
        status = await probe_service(client, "cart", "http://cart.test")

    assert (status.up, status.ready, status.checks) == (True, True, {})


async def test_a_readiness_answer_nested_too_deep_is_a_service_down() -> None:
    # json raised RecursionError, which the probe did not catch: the console stopped.
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=b"[" * 200_000))
    async with httpx.AsyncClient(transport=transport) as client:
        status = await probe_service(client, "cart", "http://cart.test")

    assert (status.up, status.ready) == (False, False)
    assert "RecursionError" in status.detail


class FailingOnce:
    """A consumer whose first fetch fails with an error aiokafka does not retry itself."""

    def __init__(self) -> None:
        self.fetches = 0

    async def getmany(self, **_: Any) -> dict[Any, Any]:
        self.fetches += 1
        if self.fetches == 1:
            raise TopicAuthorizationFailedError()
        raise asyncio.CancelledError  # the console stopping: ends the test


async def test_the_dead_letter_reader_fetches_again_after_a_fetch_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The error left the job, and a failed job stops the console.
    monkeypatch.setattr(dead_letter_reader, "_RETRY_DELAY_S", 0.0)
    consumer = FailingOnce()

    with pytest.raises(asyncio.CancelledError):
        await dead_letter_reader._read(cast(Any, consumer), cast(Any, None), lambda: None)

    assert consumer.fetches == 2

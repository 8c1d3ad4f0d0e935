"""Start-up migrations wait out a failover: a server that refuses writes, or is not ready to
connect yet, is tried again; anything else fails the start at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
import pytest
from orderflow_chassis import migrations
from orderflow_chassis.migrations import migrate_when_writable


class Pool:
    """Lends a connection, after failing to as many times as ``refusals`` says."""

    def __init__(self, refusals: list[BaseException]) -> None:
        self.refusals = refusals
        self.lent = 0

    @asynccontextmanager
    async def acquire(self, **_: object) -> AsyncIterator[Any]:
        if self.refusals:
            raise self.refusals.pop(0)
        self.lent += 1
        yield object()


async def test_a_server_not_ready_yet_mid_failover_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Review (helper 128): the session refused read-only is closed, and the next connection
    # can meet the failover half done; only read-only failures were tried again.
    async def migrated(*_: object) -> list[Any]:
        return []

    monkeypatch.setattr(migrations, "migrate_service", migrated)
    pool = Pool(
        [
            asyncpg.CannotConnectNowError("the database system is starting up"),
            ConnectionRefusedError("connection refused"),
        ]
    )

    assert await migrate_when_writable(cast(asyncpg.Pool, pool), "probe", wait_s=10) == []
    assert pool.lent == 1


async def test_another_failure_fails_the_start_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = Pool([asyncpg.InvalidPasswordError("password authentication failed")])

    with pytest.raises(asyncpg.InvalidPasswordError):
        await migrate_when_writable(cast(asyncpg.Pool, pool), "probe", wait_s=10)

"""Status changes as they commit, for the live feed: PostgreSQL LISTEN on one connection.

The projection NOTIFYs ``order_id:version`` in the transaction that applies an event, so every
instance of the cart service hears every change at commit, whichever instance applied it. One
listening connection per process serves all its feed clients: opened for the first, closed
after the last (and on stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import structlog
from orderflow_chassis.database import DEFAULT_COMMAND_TIMEOUT_S, connect
from orderflow_chassis.waiting import wait_at_most

from orderflow_cart.order_status.adapters.statuses import notification_channel

log = structlog.get_logger(__name__)


class ChangeSignal:
    """What one feed client waits on: the latest version announced for its order."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._changed = asyncio.Event()

    def announce(self, version: int) -> None:
        self.version = max(self.version, version)
        self._changed.set()

    def close(self) -> None:
        """The service is stopping: the client's feed ends."""
        self.closed = True
        self._changed.set()

    async def wait(self, timeout_s: float) -> bool:
        """True when a change was announced since the last wait; False after ``timeout_s``."""
        try:
            await wait_at_most(timeout_s, self._changed.wait())
        except TimeoutError:
            return False
        self._changed.clear()
        return True


# Every feed re-reads within this long after a lost listener: a change committed while nobody
# listened reaches it that late at most.
WAKE_SPREAD_S = 5.0
_CLOSE_S = 5.0


class StatusChanges:
    def __init__(
        self, schema: str, *, command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S
    ) -> None:
        self._schema = schema
        self._command_timeout_s = command_timeout_s  # the pool's: LISTEN never waits for ever
        self._channel = notification_channel(schema)
        self._signals: dict[UUID, set[ChangeSignal]] = defaultdict(set)
        self._connection: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def watch(self, dsn: str, order_id: UUID) -> AsyncIterator[ChangeSignal]:
        """A signal announced at every committed change of ``order_id``, while in the block."""
        signal = ChangeSignal()
        async with self._lock:
            await self._listening(dsn)
            self._signals[order_id].add(signal)
        try:
            yield signal
        finally:
            async with self._lock:
                self._signals[order_id].discard(signal)
                if not self._signals[order_id]:
                    del self._signals[order_id]
                if not self._signals:
                    await self._close_connection()

    async def ensure_listening(self, dsn: str) -> None:
        """Listen again if the connection was lost (a server restart, an idle timeout)."""
        async with self._lock:
            await self._listening(dsn)

    async def _listening(self, dsn: str) -> None:
        if self._connection is not None and not self._connection.is_closed():
            return
        connection = await connect(
            dsn, schema=self._schema, command_timeout_s=self._command_timeout_s
        )
        connection.add_termination_listener(self._lost)
        await connection.add_listener(self._channel, self._heard)
        self._connection = connection

    def _lost(self, connection: object) -> None:
        # Changes committed while nobody listened were not heard: every feed re-reads, and
        # listens again before it waits; at random within the spread, so that a thousand
        # feeds do not all ask the shared pool at once.
        log.warning("order_status.listener_lost")
        if connection is self._connection:
            self._connection = None
        loop = asyncio.get_running_loop()
        for signals in self._signals.values():
            for signal in signals:
                wake_in_s = random.uniform(0, WAKE_SPREAD_S)  # noqa: S311 - jitter
                loop.call_later(wake_in_s, signal.announce, signal.version)

    async def close(self) -> None:
        """End every feed and stop listening (the service is stopping)."""
        async with self._lock:
            for signals in self._signals.values():
                for signal in signals:
                    signal.close()
            await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.remove_termination_listener(self._lost)
            # Bounded: asyncpg's close waits for the server to end the session, and a server
            # gone silent (a failover) would hold every feed's lock, and the stop, for minutes.
            with contextlib.suppress(TimeoutError, OSError, asyncpg.PostgresError):
                await connection.close(timeout=_CLOSE_S)

    def _heard(self, _: object, __: int, ___: str, payload: object) -> None:
        order, _sep, version = str(payload).partition(":")
        try:
            order_id, number = UUID(order), int(version)
        except ValueError:
            log.warning("order_status.bad_notification", payload=str(payload)[:100])
            return
        for signal in self._signals.get(order_id, ()):
            signal.announce(number)

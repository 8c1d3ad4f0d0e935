"""What the console knows besides its tables, and how pages learn that something changed.

``Changes`` is a version number bumped after every committed change of the read model (a
consumed batch, a stored dead letter, a replay outcome) and every new probe result; each open
page holds a server-sent-events stream that waits on it (see ``pages_live``).
``LiveStatus`` keeps the last result of each probe, and since when a source has failed, so a
page shows "stale since <time>" instead of failing while Kafka or a service is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderflow_chassis.waiting import wait_at_most


class Changes:
    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()  # wakes every waiter of the previous version

    async def wait_past(self, version: int, timeout_s: float) -> int:
        """The version once it is past ``version``, or the current one after ``timeout_s``."""
        if self.version == version:
            with contextlib.suppress(TimeoutError):
                await wait_at_most(timeout_s, self._changed.wait())
        return self.version


class Attention:
    """When someone last looked at the console (a page rendered, a live stream open): the
    probes, which only pages show, run at full cadence while someone looks, and slowly
    otherwise. ``looked`` after a quiet spell wakes a waiting probe at once."""

    def __init__(self, window_s: float = 40.0) -> None:
        self._window_s = window_s  # longer than a live stream's keepalive, which looks too
        self._last = float("-inf")
        self._looked = asyncio.Event()

    def looked(self) -> None:
        if not self.watched():
            self._looked.set()
        self._last = time.monotonic()

    def watched(self) -> bool:
        return time.monotonic() - self._last < self._window_s

    async def wait(self, timeout_s: float) -> None:
        """Sleep ``timeout_s``, or less if someone starts looking meanwhile."""
        self._looked.clear()
        with contextlib.suppress(TimeoutError):
            await wait_at_most(timeout_s, self._looked.wait())


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    up: bool
    ready: bool
    detail: str
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def outbox_unsent(self) -> Any:
        return self.checks.get("outbox_unsent")

    @property
    def outbox_parked(self) -> Any:
        return self.checks.get("outbox_parked")

    @property
    def relay(self) -> Any:
        """This instance's relay: leader, standby, ... (see the chassis' relay health)."""
        return self.checks.get("outbox_relay")

    @property
    def relay_leader_here(self) -> bool | None:
        relay = self.relay
        return None if relay is None else relay == "leader"

    @property
    def relay_leader(self) -> Any:
        """Who leads the service's relay, on any instance (None: no relay leads)."""
        return self.checks.get("outbox_relay_leader")


@dataclass(frozen=True)
class Violations:
    counts: dict[str, int]
    examples: dict[str, list[str]]  # code -> a few subjects (order or cart ids)
    checked_at: datetime
    stuck_by_stage: dict[str, int] = field(default_factory=dict)  # order state -> past its SLA

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())


@dataclass
class LiveStatus:
    lag: list[PartitionLag] = field(default_factory=list)
    lag_checked_at: datetime | None = None
    kafka_stale_since: datetime | None = None
    kafka_error: str | None = None
    services: list[ServiceStatus] = field(default_factory=list)
    services_checked_at: datetime | None = None
    violations: Violations | None = None
    monitor_stale_since: datetime | None = None
    changes: Changes = field(default_factory=Changes)
    attention: Attention = field(default_factory=Attention)

    def kafka_ok(self, at: datetime) -> None:
        self.lag_checked_at = at
        self.kafka_stale_since = None
        self.kafka_error = None

    def kafka_failed(self, at: datetime, error: str) -> None:
        if self.kafka_stale_since is None:
            self.kafka_stale_since = at
        self.kafka_error = error

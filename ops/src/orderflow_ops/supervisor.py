"""Keep the services of ``orderflow-system run`` running: restart one that dies.

Restarting is safe by construction: every service keeps what it must publish in its outbox and
what it applied in its inbox and consumer positions, all in PostgreSQL, so a restarted process
resumes where the dead one committed; nothing accepted is lost or applied twice.

A service that dies is restarted after a delay that doubles with each crash in a row (1 s,
2 s, 4 s ... up to 30 s), so a service failing because a dependency is down does not spin.
A service that ran a full crash window without dying starts again from the first delay. A
service that keeps crashing fast (5 crashes within 60 s) is broken, not unlucky: the whole
system is then stopped, saying why.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Supervised(Protocol):
    name: str

    def exit_code(self) -> int | None: ...

    def restart(self) -> None: ...


REFUSED_TO_START = 2
"""The exit code of a service that refused to start (``orderflow_chassis.service_cli``)."""


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    crash_limit: int = 5
    crash_window_s: float = 60.0

    def delay(self, crashes_in_a_row: int) -> float:
        """How long to wait before restarting after the n-th crash in a row (n >= 1)."""
        exponent = min(max(crashes_in_a_row - 1, 0), 30)  # bounded: 2**30 s is already "max"
        return min(self.first_delay_s * float(2**exponent), self.max_delay_s)

    def too_many(self, crash_times: Sequence[float], now: float) -> bool:
        """True when ``crash_limit`` crashes happened within the last ``crash_window_s``."""
        recent = [at for at in crash_times if now - at <= self.crash_window_s]
        return len(recent) >= self.crash_limit


@dataclass
class _Watch:
    """What the supervisor knows about one service."""

    service: Supervised
    restarts: int = 0
    crashes_in_a_row: int = 0
    crash_times: deque[float] = field(default_factory=deque)
    started_at: float = 0.0
    restart_at: float | None = None  # a restart is scheduled for this time
    last_exit_code: int | None = None


@dataclass(frozen=True)
class GaveUp:
    """The system must stop: one service kept crashing."""

    service: Supervised
    crashes: int
    window_s: float
    exit_code: int | None

    @property
    def reason(self) -> str:
        if self.exit_code == REFUSED_TO_START:
            return (
                f"{self.service.name} refused to start (exit code {REFUSED_TO_START}): a "
                "setting, credential or file to fix, named in its log; stopping everything"
            )
        return (
            f"{self.service.name} crashed {self.crashes} times within {self.window_s:g}s "
            f"(last exit code {self.exit_code}); it is broken, not unlucky: stopping everything"
        )


class Supervisor:
    """Call :meth:`poll` regularly; it restarts dead services when their delay is over and
    returns :class:`GaveUp` once one of them crashed too often."""

    def __init__(
        self,
        services: Sequence[Supervised],
        policy: RestartPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_crash: Callable[[Supervised, int | None, float], None] | None = None,
        on_restart: Callable[[Supervised, int], None] | None = None,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._on_crash = on_crash
        self._on_restart = on_restart
        now = clock()
        self._watches = [_Watch(service, started_at=now) for service in services]

    @property
    def restarts(self) -> dict[str, int]:
        return {w.service.name: w.restarts for w in self._watches}

    def poll(self) -> GaveUp | None:
        now = self._clock()
        for watch in self._watches:
            if watch.restart_at is None:
                exit_code = watch.service.exit_code()
                if exit_code is None:
                    continue
                gave_up = self._crashed(watch, exit_code, now)
                if gave_up is not None:
                    return gave_up
            if watch.restart_at is not None and now >= watch.restart_at:
                watch.service.restart()
                watch.restarts += 1
                watch.started_at = now
                watch.restart_at = None
                if self._on_restart is not None:
                    self._on_restart(watch.service, watch.restarts)
        return None

    def _crashed(self, watch: _Watch, exit_code: int, now: float) -> GaveUp | None:
        policy = self.policy
        if now - watch.started_at > policy.crash_window_s:
            watch.crashes_in_a_row = 0  # it had been running fine: this is a fresh failure
        watch.crashes_in_a_row += 1
        watch.last_exit_code = exit_code
        watch.crash_times.append(now)
        while watch.crash_times and now - watch.crash_times[0] > policy.crash_window_s:
            watch.crash_times.popleft()
        # A refusal names what to fix; restarting cannot fix it (and a slow refusal, such as
        # a seed file waited for a minute, never counted as crashing fast).
        if exit_code == REFUSED_TO_START or policy.too_many(watch.crash_times, now):
            return GaveUp(watch.service, len(watch.crash_times), policy.crash_window_s, exit_code)
        delay = policy.delay(watch.crashes_in_a_row)
        watch.restart_at = now + delay
        if self._on_crash is not None:
            self._on_crash(watch.service, exit_code, delay)
        return None

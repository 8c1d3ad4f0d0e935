"""Background jobs that run every N seconds (expiries, sweeps) inside a service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:  # the runtime schedules the chassis' own jobs with `every` too
    from orderflow_chassis.runtime import BackgroundJob, RuntimeResources

log = structlog.get_logger(__name__)


def every(
    interval_s: float, job: Callable[[RuntimeResources], Awaitable[object]], *, name: str
) -> BackgroundJob:
    """Run ``job`` now and then every ``interval_s`` seconds until the service stops.

    A failing round is logged and retried at the next tick: a database restart must not stop
    expiries for good. Each round should do its work in its own transaction(s) through the
    outbox, so a crash mid-round loses nothing.
    """

    async def run(resources: RuntimeResources) -> None:
        while True:
            try:
                await job(resources)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic_job.failed", job=name)
            await asyncio.sleep(interval_s)

    run.__name__ = name
    return run

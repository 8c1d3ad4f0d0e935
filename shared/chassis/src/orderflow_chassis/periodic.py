"""Background jobs that run every N seconds (expiries, sweeps) inside a service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from orderflow_chassis.errors import describe_error, is_transient

log = structlog.get_logger(__name__)

T = TypeVar("T")


def every(
    interval_s: float, job: Callable[[T], Awaitable[object]], *, name: str
) -> Callable[[T], Awaitable[None]]:
    """Run ``job`` now and then every ``interval_s`` seconds until the service stops.

    ``job`` gets what the runtime gives background jobs: the service's transactions, from
    which each batch opens its own unit of work. A failing round is logged and retried at the
    next tick: a database restart must not stop expiries for good. A failure an infrastructure
    hiccup explains (:func:`~orderflow_chassis.errors.is_transient`) is a warning naming it;
    any other is an error with its traceback. Each round should do its work in its own
    transaction(s) through the outbox, so a crash mid-round loses nothing.
    """

    async def run(argument: T) -> None:
        while True:
            try:
                await job(argument)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_transient(error):
                    log.warning(
                        "periodic_job.retrying",
                        job=name,
                        error=describe_error(error),
                        retry_in_s=interval_s,
                    )
                else:
                    log.exception("periodic_job.failed", job=name)
            await asyncio.sleep(interval_s)

    run.__name__ = name
    return run

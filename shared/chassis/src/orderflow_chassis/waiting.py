"""A bounded wait that never swallows a cancellation.

Python 3.11's ``asyncio.wait_for`` returns the result, and drops the cancellation, when the task
waiting is cancelled just as what it waits for completes (fixed in 3.12). A loop around such a
wait (the relay waiting for a NOTIFY, a poller waiting for a change) then never ends: a
service's stop waited for it forever. ``asyncio.timeout`` keeps the cancellation; every bounded
wait goes through it (``asyncio.wait_for`` is banned by the linter).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import Any, TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)

_RECANCEL_EVERY_S = 1.0


async def wait_at_most(seconds: float | None, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds`` (``None``: no bound)."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]], *, bound_s: float) -> list[str]:
    """Cancel ``tasks`` and wait for them to end; return the names of those still running after
    ``bound_s``. A library may still lose a cancellation (its own ``wait_for``): a task still
    running is cancelled again every ``_RECANCEL_EVERY_S``, and one that outlives the bound is
    left to the caller to report, so that a stop always ends."""
    for task in tasks:
        task.cancel()
    deadline = time.monotonic() + bound_s
    pending = {task for task in tasks if not task.done()}
    while pending and (left := deadline - time.monotonic()) > 0:
        _, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_EVERY_S, left))
        for task in pending:
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a task's own failure was reported where it happened
    return sorted(task.get_name() for task in pending)


def run_to_the_end(main: Coroutine[Any, Any, T], *, left_running: Callable[[], Sequence[str]]) -> T:
    """``asyncio.run(main)`` for a process's main coroutine, except that when ``main`` ended
    leaving tasks that would not stop (``left_running()`` names them, after
    :func:`cancel_and_wait` gave up on them), the loop is not closed: ``asyncio.run``'s own
    clean-up would cancel them once more and wait for them without a bound. They are left as
    they are, and end with the process. What ``main`` returns or raises is the caller's, so a
    CLI still reports it as it would."""
    runner = asyncio.Runner()
    try:
        return runner.run(main)
    finally:
        if left_running():
            log.error("process.exiting_around_tasks", tasks=list(left_running()))
        else:
            runner.close()


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task``, wait for it to end, and raise what it failed with. Unlike
    ``with suppress(CancelledError): await task``, a cancellation of the caller itself, arriving
    meanwhile, is raised, never taken for the task's."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error

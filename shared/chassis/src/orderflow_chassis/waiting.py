"""A bounded wait that never swallows a cancellation.

Python 3.11's ``asyncio.wait_for`` returns the result, and drops the cancellation, when the task
waiting is cancelled just as what it waits for completes (fixed in 3.12). A loop around such a
wait (the relay waiting for a NOTIFY, a poller waiting for a change) then never ends: a
service's stop waited for it forever. ``asyncio.timeout`` keeps the cancellation; every bounded
wait goes through it (``asyncio.wait_for`` is banned by the linter).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

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


def run_to_the_end(
    main: Coroutine[Any, Any, None], *, left_running: Callable[[], Sequence[str]]
) -> None:
    """``asyncio.run(main)`` for a process's main coroutine, except that when ``main`` ended
    leaving tasks that would not stop (``left_running()`` names them, after
    :func:`cancel_and_wait` gave up on them), the process exits at once: ``asyncio.run``'s own
    clean-up would cancel them once more and wait for them without a bound."""
    runner = asyncio.Runner()
    try:
        runner.run(main)
    except BaseException as error:
        if left_running():
            traceback.print_exception(error)
            _exit_now(1)
        runner.close()
        raise
    if left_running():
        _exit_now(0)
    runner.close()


def _exit_now(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Run a coroutine to completion from synchronous code, wherever that code is called from."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a fresh event loop in a worker thread and return its result.

    The synchronous API (CLI, pytest fixtures) is often called while an event loop exists in
    the calling thread (pytest-asyncio keeps a session loop); `asyncio.run` there would either
    refuse or reset that thread's loop. A private thread leaves the caller's loop untouched.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="orderflow-localinfra") as pool:
        return pool.submit(asyncio.run, coroutine).result()

"""What the ops console costs in a benchmark run (issue #13: it must keep up with the pipeline
and add no more than 10 % to its CPU per order).

The console is started as ``make run`` starts it, but it is not part of the pipeline: a
phase's window (and every existing figure) still ends when the four services are quiet. The
console is then given time to catch up, and its CPU is counted from the start of the phase
until it has, so its backlog is in its cost. Its lag is reported at both instants.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

CONSOLE = "console"
# The pipeline the console's cost is compared with: what runs the orders without it.
PIPELINE = ("cart", "payment", "fulfillment", "returns", "kafka", "postgres")
CATCH_UP_POLL_S = 0.5


def console_group_prefix(topic_prefix: str) -> str:
    """Its consumer groups: the events' (chassis ``consumer_group``) and the dead letters'."""
    return f"{topic_prefix}orderflow.{CONSOLE}"


def is_console_group(group: str, prefix: str | None) -> bool:
    return prefix is not None and (group == prefix or group.startswith(prefix + "."))


def console_lag(lag_by_group: Mapping[str, int], prefix: str) -> int:
    return sum(lag for group, lag in lag_by_group.items() if is_console_group(group, prefix))


async def catch_up(
    read_lag: Callable[[], Awaitable[Mapping[str, int]]], prefix: str, timeout_s: float
) -> dict[str, Any]:
    """Wait until the console's groups have no lag (at most ``timeout_s``)."""
    started = time.monotonic()
    first = console_lag(await read_lag(), prefix)
    lag = first
    while lag and time.monotonic() - started < timeout_s:
        await asyncio.sleep(CATCH_UP_POLL_S)
        lag = console_lag(await read_lag(), prefix)
    return {
        "lag_when_pipeline_quiet": first,
        "lag_at_end": lag,
        "caught_up": lag == 0,
        "seconds_to_catch_up": time.monotonic() - started if lag == 0 else None,
    }


def console_figures(
    catch_up_result: Mapping[str, Any],
    console_cpu_s: float | None,
    pipeline_cpu_s: Mapping[str, float | None],
    orders: int,
) -> dict[str, Any]:
    """The console's CPU per completed order (until it caught up), and as a share of the
    pipeline's CPU per order (its four services, Kafka and PostgreSQL, in the phase's window:
    the console's own queries and fetches are inside the PostgreSQL and Kafka figures)."""
    pipeline = [pipeline_cpu_s.get(name) for name in PIPELINE]
    pipeline_s = None if any(v is None for v in pipeline) else sum(v or 0.0 for v in pipeline)
    ms_per_order = None
    if console_cpu_s is not None and orders > 0:
        ms_per_order = console_cpu_s * 1000 / orders
    share = None
    if console_cpu_s is not None and pipeline_s:
        share = console_cpu_s / pipeline_s
    return {
        **catch_up_result,
        "cpu_s": console_cpu_s,
        "ms_per_order": ms_per_order,
        "pipeline_cpu_s": pipeline_s,
        "share_of_pipeline_cpu": share,
    }

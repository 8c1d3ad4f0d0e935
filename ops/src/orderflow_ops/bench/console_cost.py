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

import asyncpg
from orderflow_localinfra.provisioning import service_role

from orderflow_ops.bench.resources import CLOCK_TICKS_PER_S, read_all_process_stats

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
    sessions_cpu_s: float | None = None,
) -> dict[str, Any]:
    """The console's CPU per completed order (until it caught up), and as a share of the
    pipeline's CPU per order: its four services, Kafka and PostgreSQL in the phase's window,
    less the console's own PostgreSQL sessions (``sessions_cpu_s``, when measured), which
    are the console's. With them, ``total_*`` is what the console costs the machine."""
    pipeline = [pipeline_cpu_s.get(name) for name in PIPELINE]
    pipeline_s = None if any(v is None for v in pipeline) else sum(v or 0.0 for v in pipeline)
    if pipeline_s is not None and sessions_cpu_s is not None:
        pipeline_s = max(0.0, pipeline_s - sessions_cpu_s)
    total_s = None
    if console_cpu_s is not None and sessions_cpu_s is not None:
        total_s = console_cpu_s + sessions_cpu_s
    return {
        **catch_up_result,
        "cpu_s": console_cpu_s,
        "postgres_sessions_cpu_s": sessions_cpu_s,
        "ms_per_order": _per_order_ms(console_cpu_s, orders),
        "postgres_sessions_ms_per_order": _per_order_ms(sessions_cpu_s, orders),
        "total_ms_per_order": _per_order_ms(total_s, orders),
        "pipeline_cpu_s": pipeline_s,
        "share_of_pipeline_cpu": _share(console_cpu_s, pipeline_s),
        "total_share_of_pipeline_cpu": _share(total_s, pipeline_s),
    }


def _per_order_ms(seconds: float | None, orders: int) -> float | None:
    return None if seconds is None or orders <= 0 else seconds * 1000 / orders


def _share(seconds: float | None, of_s: float | None) -> float | None:
    return None if seconds is None or not of_s else seconds / of_s


class ConsoleSessions:
    """CPU of the console's PostgreSQL sessions (backends of its role in the run's database):
    its share of the PostgreSQL figure. Read from /proc, so only when the server runs on this
    machine; a session that ends between two readings takes its time with it (the console's
    pool keeps its connections, so that is rare), a new one counts from its start."""

    def __init__(self, admin_url: str, role: str = service_role(CONSOLE)) -> None:
        self._admin_url = admin_url
        self._role = role

    async def ticks(self) -> dict[int, int]:
        """Each session's CPU ticks so far, by backend pid (none when they cannot be read)."""
        try:
            connection = await asyncpg.connect(self._admin_url)
            try:
                rows = await connection.fetch(
                    """
                    SELECT pid FROM pg_stat_activity
                    WHERE usename = $1 AND datname = current_database()
                    """,
                    self._role,
                )
            finally:
                await connection.close()
        except (OSError, asyncpg.PostgresError):  # a figure less, not a failed benchmark
            return {}
        stats = await asyncio.to_thread(read_all_process_stats)
        return {row["pid"]: stats[row["pid"]].own_ticks for row in rows if row["pid"] in stats}


def sessions_cpu_s(
    before: Mapping[int, int], after: Mapping[int, int], ticks_per_s: int = CLOCK_TICKS_PER_S
) -> float | None:
    """CPU seconds the sessions spent between two readings; None when none was visible."""
    if not after:
        return None
    return sum(max(0, ticks - before.get(pid, 0)) for pid, ticks in after.items()) / ticks_per_s

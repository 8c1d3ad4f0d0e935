"""The phases of a benchmark run.

Idle: a few seconds without orders, for what the running system costs anyway. Sustained: N
orders published as fast as the storefront can, measured until the last one completes and the
system is quiet again: orders/s per stage, pipeline events/s, CPU per order. Paced: M orders
at a fixed rate (half the sustained throughput unless told), for the latency of each stage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from orderflow_ops.bench.console_cost import (
    CONSOLE,
    ConsoleSessions,
    catch_up,
    console_figures,
    is_console_group,
    sessions_cpu_s,
)
from orderflow_ops.bench.figures import paced_figures, sustained_figures
from orderflow_ops.bench.lag import LagProbe
from orderflow_ops.bench.load import StorefrontLoad
from orderflow_ops.bench.observer import Observer, StageCounts
from orderflow_ops.bench.resources import CpuSnapshot, CpuUsage, cpu_between
from orderflow_ops.bench.terminal import Progress

POLL_S = 0.5  # how often a phase looks at the stage counts: its figures never depend on it
QUIET_POLL_S = 0.5


class Service(Protocol):
    name: str

    def exit_code(self) -> int | None: ...

    def log_tail(self, lines: int = 15) -> str: ...


class BenchFailed(RuntimeError):
    """The benchmark cannot go on (a service died, orders stopped moving)."""


@dataclass(frozen=True)
class PhaseContext:
    load: StorefrontLoad
    observer: Observer
    lag: LagProbe
    services: Sequence[Service]
    progress: Progress
    component_pids: Callable[[], Mapping[str, int]]
    stall_timeout_s: float
    console_groups: str | None = None  # the console's group prefix when it runs (not pipeline)
    console_sessions: ConsoleSessions | None = None

    async def pipeline_lag(self) -> dict[str, int]:
        lag = await self.lag.lag()
        return {g: n for g, n in lag.items() if not is_console_group(g, self.console_groups)}


@dataclass(frozen=True)
class PhaseOutcome:
    carts: list[str]
    counts: StageCounts
    figures: dict[str, Any]


def describe(label: str, expected: int, published: int, counts: StageCounts) -> str:
    stages = " | ".join(f"{stage.split('_')[0]} {n}" for stage, n in counts.stages.items())
    failed = f" | FAILED {counts.failed}" if counts.failed else ""
    return f"{label}: published {published}/{expected} | {stages}{failed}"


async def _until_done(
    context: PhaseContext,
    label: str,
    expected: int,
    carts: list[str],
    publishing: asyncio.Task[Any],
) -> StageCounts:
    """Wait until every order published completed or failed; give up when none moves on for
    ``stall_timeout_s`` after publishing ended. Fails at once if a service exits."""
    book = context.observer.book
    last_moved, last_seen = time.monotonic(), -1
    while True:
        if publishing.done():
            publishing.result()  # a send that failed fails the phase
        context.observer.check_alive()
        for service in context.services:
            if service.exit_code() is not None:
                raise BenchFailed(
                    f"{service.name} exited with {service.exit_code()} during {label}; "
                    f"last lines of its log:\n{service.log_tail(20)}"
                )
        counts = book.counts(carts)
        context.progress.update(describe(label, expected, len(carts), counts))
        moved = sum(counts.stages.values()) + counts.failed
        if moved != last_seen:
            last_moved, last_seen = time.monotonic(), moved
        if publishing.done():
            if counts.stages["completed"] + counts.failed >= len(carts):
                context.progress.update(describe(label, expected, len(carts), counts), force=True)
                return counts
            if time.monotonic() - last_moved > context.stall_timeout_s:
                context.progress.step(
                    f"  {label}: nothing moved for {context.stall_timeout_s:.0f}s; giving up"
                )
                return counts
        await asyncio.sleep(POLL_S)


@dataclass(frozen=True)
class Measurement:
    carts: list[str]
    counts: StageCounts
    usage: CpuUsage
    publish_wall_s: float
    settle: dict[str, Any]
    console: dict[str, Any] | None  # its catch-up and CPU seconds, when it runs


async def _until_quiet(context: PhaseContext) -> dict[str, Any]:
    """Wait until every consumer group of the run applied every record and no new record
    appeared for a poll; says how long that took and who was behind when it started."""
    started = time.monotonic()
    first = await context.pipeline_lag()
    behind = {group: lag for group, lag in first.items() if lag}
    records = len(context.observer.book.record_ms)
    while time.monotonic() - started < context.stall_timeout_s:
        await asyncio.sleep(QUIET_POLL_S)
        now_records = len(context.observer.book.record_ms)
        if now_records == records and not any((await context.pipeline_lag()).values()):
            return {
                "quiet": True,
                "seconds_after_last_order": time.monotonic() - started,
                "lag_when_last_order_done": behind,
            }
        records = now_records
    return {"quiet": False, "seconds_after_last_order": None, "lag_when_last_order_done": behind}


async def _measured(
    context: PhaseContext,
    label: str,
    expected: int,
    publish: Callable[[list[str]], Coroutine[Any, Any, None]],
) -> Measurement:
    """CPU from just before the first order is published until the system is quiet again
    after the last one: everything the phase's orders cost, off the critical path too."""
    carts: list[str] = []
    sessions = context.console_sessions
    sessions_before = await sessions.ticks() if sessions is not None else {}
    before = CpuSnapshot.take(context.component_pids())
    started = time.perf_counter()
    publishing = asyncio.create_task(publish(carts), name=f"bench-{label}-publish")
    published_at: list[float] = []
    publishing.add_done_callback(lambda _: published_at.append(time.perf_counter()))
    try:
        counts = await _until_done(context, label, expected, carts, publishing)
    finally:
        if not publishing.done():
            publishing.cancel()
    settle = await _until_quiet(context)
    after = CpuSnapshot.take(context.component_pids())
    publish_wall_s = (published_at[0] if published_at else time.perf_counter()) - started
    console = None
    if context.console_groups is not None:
        console = await catch_up(context.lag.lag, context.console_groups, context.stall_timeout_s)
        caught_up = cpu_between(before, CpuSnapshot.take(context.component_pids()))
        console["cpu_s"] = caught_up.components_s.get(CONSOLE)
        if sessions is not None:
            console["sessions_cpu_s"] = sessions_cpu_s(sessions_before, await sessions.ticks())
    usage = cpu_between(before, after)
    return Measurement(carts, counts, usage, publish_wall_s, settle, console)


def _settle_and_console(figures: dict[str, Any], measured: Measurement, orders: int) -> None:
    figures["settle"] = measured.settle
    if measured.console is not None:
        found = dict(measured.console)
        cpu_s, sessions_s = found.pop("cpu_s"), found.pop("sessions_cpu_s", None)
        usage = measured.usage.components_s
        figures[CONSOLE] = console_figures(found, cpu_s, usage, orders, sessions_s)


async def sustained_phase(
    context: PhaseContext, orders: int, raw_limits: Mapping[str, float]
) -> PhaseOutcome:
    async def publish(carts: list[str]) -> None:
        await context.load.burst(orders, carts)

    measured = await _measured(context, "sustained", orders, publish)
    figures = sustained_figures(
        context.observer.book, measured.carts, measured.usage, raw_limits, measured.publish_wall_s
    )
    _settle_and_console(figures, measured, figures["stages"]["completed"]["orders"])
    return PhaseOutcome(measured.carts, measured.counts, figures)


async def paced_phase(context: PhaseContext, orders: int, per_second: float) -> PhaseOutcome:
    async def publish(carts: list[str]) -> None:
        await context.load.paced(orders, per_second, carts)

    measured = await _measured(context, "paced", orders, publish)
    figures = paced_figures(context.observer.book, measured.carts, measured.usage, per_second)
    _settle_and_console(figures, measured, figures["completed"])
    return PhaseOutcome(measured.carts, measured.counts, figures)


async def idle_phase(context: PhaseContext, seconds: float) -> dict[str, Any]:
    """What the running system costs with no order in flight, in cores (CPU s per s): the
    floor under the paced phase's CPU per order."""
    before = CpuSnapshot.take(context.component_pids())
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    usage = cpu_between(before, CpuSnapshot.take(context.component_pids()))
    elapsed = time.perf_counter() - started
    cores: dict[str, float | None] = {"machine": usage.machine_s / elapsed}
    for name, spent in usage.components_s.items():
        cores[name] = None if spent is None else spent / elapsed
    cores["other"] = usage.other_s / elapsed
    return {"seconds": elapsed, "cores": cores}


def paced_order_count(per_second: float, max_orders: int, seconds: float) -> int:
    """As many orders as ``seconds`` at ``per_second`` take, at most ``max_orders``."""
    return max(1, min(max_orders, round(per_second * seconds)))

"""The outage phase: orders at a paced rate while one service is down, and how long the
pipeline takes to catch up once it is back (issue #12: "catch-up after a 60 s payment outage
at 50 orders/s: <= 30 s").

The load starts; after a warm-up every process of the service is SIGKILLed (a crash, as the
chaos tests do: no graceful shutdown, no last commit) while the load keeps coming; after the
outage it is started again exactly as the runner first started it and waited for until ready.
The load goes on until the pipeline caught up (see :mod:`catch_up`) and then for a tail, whose
orders give the latency once caught up. Every order must still complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from orderflow_chassis.waiting import stop_task, wait_at_most

from orderflow_ops.bench.catch_up import (
    CAUGHT_UP_STAGE,
    catch_up,
    checked_out_after,
    journeys,
)
from orderflow_ops.bench.figures import stage_latencies_ms, stage_rates
from orderflow_ops.bench.load import ACK_WINDOW_ORDERS, StorefrontLoad
from orderflow_ops.bench.outage_report import capacity_verdict
from orderflow_ops.bench.phases import (
    BenchFailed,
    PhaseContext,
    PhaseOutcome,
    _until_done,
    _until_quiet,
)
from orderflow_ops.system import ServiceFailedToStart, ServiceProcess, wait_until_ready

WATCH_S = 0.5  # how often the phase looks for the catch-up: the figures never depend on it
OBSERVED_MARGIN_MS = 1000  # orders published this long before a catch-up must be observed


@dataclass(frozen=True)
class OutagePlan:
    service: str
    seconds: float
    rate: float
    warmup_s: float
    tail_s: float
    max_catch_up_s: float


@dataclass
class Timeline:
    """Wall-clock instants of the phase (ms since the epoch, the record timestamps' clock)."""

    started_ms: int = 0
    killed_ms: int = 0
    restarted_ms: int = 0
    ready_ms: int = 0
    lag_at_ready: int | None = None
    caught_up_ms: int | None = None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def outage_phase(
    context: PhaseContext,
    plan: OutagePlan,
    targets: Sequence[ServiceProcess],
    sustained_orders_per_s: float | None,
) -> PhaseOutcome:
    if not targets:
        raise BenchFailed(f"no {plan.service} process to stop")
    carts: list[str] = []
    published_ms: list[int] = []
    timeline = Timeline()
    # The phase's own waiting must not take the killed service's exit for a failure.
    others = [s for s in context.services if s.name != plan.service]
    waiting = replace(context, services=others)
    label = f"outage of {plan.service}"
    # The most it publishes (not caught up until the limit): the progress line's "of".
    expected = round(plan.rate * (plan.warmup_s + plan.seconds + plan.max_catch_up_s))
    drive = _drive(context, plan, targets, carts, published_ms, timeline)
    publishing = asyncio.create_task(drive, name="bench-outage-publish")
    try:
        counts = await _until_done(waiting, label, expected, carts, publishing)
    finally:
        if not publishing.done():
            await stop_task(publishing)
    settle = await _until_quiet(context)
    figures = outage_figures(context, plan, carts, timeline, sustained_orders_per_s)
    figures["settle"] = settle
    return PhaseOutcome(carts, counts, figures)


async def _drive(
    context: PhaseContext,
    plan: OutagePlan,
    targets: Sequence[ServiceProcess],
    carts: list[str],
    published_ms: list[int],
    timeline: Timeline,
) -> None:
    progress = context.progress
    stop = asyncio.Event()
    timeline.started_ms = now_ms()
    publisher = asyncio.create_task(_paced(context.load, plan.rate, carts, published_ms, stop))
    try:
        await _sleep_publishing(plan.warmup_s, publisher)
        progress.step(f"  SIGKILL {plan.service} for {plan.seconds:g}s, load going on")
        timeline.killed_ms = now_ms()
        await asyncio.to_thread(_kill_all, targets)
        await _sleep_publishing(plan.seconds, publisher)
        timeline.restarted_ms = now_ms()
        await asyncio.to_thread(_restart_all, targets)
        timeline.ready_ms = now_ms()
        timeline.lag_at_ready = await _service_lag(context, plan.service)
        restart_s = (timeline.ready_ms - timeline.restarted_ms) / 1000
        progress.step(
            f"  {plan.service} ready again after {restart_s:.1f}s; "
            f"its consumer lag {timeline.lag_at_ready} records; catching up ..."
        )
        await _until_caught_up(context, plan, targets, carts, published_ms, timeline, publisher)
    finally:
        stop.set()
        await publisher


async def _until_caught_up(
    context: PhaseContext,
    plan: OutagePlan,
    targets: Sequence[ServiceProcess],
    carts: list[str],
    published_ms: list[int],
    timeline: Timeline,
    publisher: asyncio.Task[None],
) -> None:
    """Until caught up and a tail published after it, or ``max_catch_up_s`` after ready."""
    book = context.observer.book
    while now_ms() - timeline.ready_ms < plan.max_catch_up_s * 1000:
        await _sleep_publishing(WATCH_S, publisher)
        for service in targets:
            if service.exit_code() is not None:
                raise BenchFailed(
                    f"{service.name} exited with {service.exit_code()} after its restart; "
                    f"last lines of its log:\n{service.log_tail(20)}"
                )
        found = catch_up(
            journeys(book, carts),
            warmup_from_ms=timeline.started_ms,
            outage_from_ms=timeline.killed_ms,
            ready_ms=timeline.ready_ms,
        ).caught_up_ms
        if found is None or not _observed_until(book.checkout_ms, carts, published_ms, found):
            continue
        if timeline.caught_up_ms is None:
            context.progress.step(
                f"  caught up {(found - timeline.ready_ms) / 1000:.1f}s after ready; "
                f"{plan.tail_s:g}s more orders for the latency"
            )
        timeline.caught_up_ms = found
        if now_ms() >= found + plan.tail_s * 1000:
            return
    context.progress.step(f"  not caught up {plan.max_catch_up_s:g}s after ready; load stopped")


def _observed_until(
    checkouts: dict[str, int], carts: list[str], published_ms: list[int], until_ms: int
) -> bool:
    """Every order published up to a while after ``until_ms`` is in the observer's book: an
    order it has not read yet would make the in-flight count look lower than it is."""
    limit = until_ms + OBSERVED_MARGIN_MS
    return all(
        cart in checkouts for cart, ms in zip(carts, published_ms, strict=True) if ms <= limit
    )


async def _paced(
    load: StorefrontLoad,
    per_second: float,
    carts: list[str],
    published_ms: list[int],
    stop: asyncio.Event,
) -> None:
    """Orders at ``per_second`` until ``stop``: the i-th at start + i / per_second, a late
    one at once (no burst to catch up)."""
    start = time.monotonic()
    number = 0
    while not stop.is_set():
        delay = start + number / per_second - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await wait_at_most(delay, stop.wait())
            continue
        sent_ms = now_ms()
        carts.append(await load.publish_order())
        published_ms.append(sent_ms)
        number += 1
        if number % ACK_WINDOW_ORDERS == 0:
            await load.flush()
    await load.flush()


async def _sleep_publishing(seconds: float, publisher: asyncio.Task[None]) -> None:
    """Sleep, but fail at once when the publisher failed (a send's error)."""
    done, _ = await asyncio.wait({publisher}, timeout=seconds)
    if done:
        publisher.result()
        raise BenchFailed("the outage load stopped publishing before it was told to")


def _kill_all(targets: Sequence[ServiceProcess]) -> None:
    for service in targets:
        service.kill()


def _restart_all(targets: Sequence[ServiceProcess]) -> None:
    for service in targets:
        service.restart()
    try:
        wait_until_ready(targets)
    except ServiceFailedToStart as failed:
        raise BenchFailed(f"{failed} after the outage:\n{failed.service.log_tail(20)}") from failed
    except TimeoutError as slow:
        raise BenchFailed(f"{slow} (after the outage)") from slow


async def _service_lag(context: PhaseContext, service: str) -> int | None:
    """Records the service's consumer groups have yet to apply (groups are
    ``<prefix>orderflow.<service>.<subscription>``)."""
    with contextlib.suppress(Exception):  # a figure, not a reason to fail the run
        marker = f"orderflow.{service}."
        return sum(lag for group, lag in (await context.lag.lag()).items() if marker in group)
    return None


def outage_figures(
    context: PhaseContext,
    plan: OutagePlan,
    carts: Sequence[str],
    timeline: Timeline,
    sustained_orders_per_s: float | None,
) -> dict[str, Any]:
    book = context.observer.book
    result = catch_up(
        journeys(book, carts),
        warmup_from_ms=timeline.started_ms,
        outage_from_ms=timeline.killed_ms,
        ready_ms=timeline.ready_ms,
    )
    after: dict[str, Any] = {"orders": 0}
    if result.caught_up_ms is not None:
        tail = checked_out_after(book, carts, result.caught_up_ms)
        latency = stage_latencies_ms(book, tail).get(CAUGHT_UP_STAGE, {})
        after = {"orders": len(tail), **{k: v for k, v in latency.items() if k != "orders"}}
    achieved = stage_rates(book, carts)["checkouts_per_s"]
    return {
        "service": plan.service,
        "signal": "SIGKILL",
        "orders": len(carts),
        "target_orders_per_s": plan.rate,
        "checkouts_per_s": achieved,
        "sustained_orders_per_s": sustained_orders_per_s,
        "warmup_s": plan.warmup_s,
        "outage_s": (timeline.restarted_ms - timeline.killed_ms) / 1000,
        "restart_to_ready_s": (timeline.ready_ms - timeline.restarted_ms) / 1000,
        "backlog_orders_at_ready": result.backlog_at_ready,
        "service_lag_records_at_ready": timeline.lag_at_ready,
        "baseline_in_flight": result.baseline_in_flight,
        "caught_up": result.caught_up_ms is not None,
        "catch_up_s": result.catch_up_s,
        "backlog_drained_s": result.backlog_drained_s,
        "drain_orders_per_s": result.drain_orders_per_s,
        "after_catch_up": after,
        "verdict": capacity_verdict(
            target=plan.rate,
            achieved=achieved,
            sustained=sustained_orders_per_s,
            caught_up=result.caught_up_ms is not None,
            drain=result.drain_orders_per_s,
        ),
        "caught_up_stage": CAUGHT_UP_STAGE,
    }

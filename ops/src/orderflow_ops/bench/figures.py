"""The figures of a benchmark phase, computed from the observer's stage book and the CPU
spent: pure functions, so they are tested without Kafka.

Every time is a record timestamp in ms (see :mod:`orderflow_ops.bench.observer`). A stage's
rate is the orders that reached it over the time from the first checkout published to the
last order reaching it; the throughput of the pipeline is that rate for ``completed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from orderflow_ops.bench.observer import STAGES, StageBook
from orderflow_ops.bench.resources import CpuUsage

LATENCY_PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile, interpolating linearly between the closest ranks (numpy's
    default method): exact at 0 and 100, and not stuck on one sample for small counts."""
    if not values:
        raise ValueError("no values")
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    below, above = math.floor(position), math.ceil(position)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


def stage_rates(book: StageBook, carts: Sequence[str]) -> dict[str, Any]:
    """Per stage: how many orders reached it, when the last did, and the orders/s."""
    checkouts = [book.checkout_ms[c] for c in carts if c in book.checkout_ms]
    first = min(checkouts, default=None)
    stages: dict[str, dict[str, Any]] = {}
    for stage, _ in STAGES:
        reached = [book.stages_of_cart(c)[stage] for c in carts if stage in book.stages_of_cart(c)]
        last = max(reached, default=None)
        seconds = (last - first) / 1000 if last is not None and first is not None else None
        stages[stage] = {
            "orders": len(reached),
            "last_ms": last,
            "orders_per_s": len(reached) / seconds if seconds else None,
        }
    last_checkout = max(checkouts, default=None)
    publish_s = (last_checkout - first) / 1000 if first is not None and last_checkout else None
    return {
        "first_checkout_ms": first,
        "checkouts": len(checkouts),
        "checkouts_per_s": len(checkouts) / publish_s if publish_s else None,
        "stages": stages,
    }


def stage_latencies_ms(book: StageBook, carts: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per stage, percentiles of the time from the order's CheckoutRequested to the stage."""
    latencies: dict[str, dict[str, float]] = {}
    for stage, _ in STAGES:
        waits = [
            float(book.stages_of_cart(cart)[stage] - book.checkout_ms[cart])
            for cart in carts
            if cart in book.checkout_ms and stage in book.stages_of_cart(cart)
        ]
        if not waits:
            continue
        figures = {f"p{p}": percentile(waits, p) for p in LATENCY_PERCENTILES}
        figures["max"] = max(waits)
        figures["orders"] = float(len(waits))
        latencies[stage] = figures
    return latencies


def cpu_figures(usage: CpuUsage, orders: int) -> dict[str, Any]:
    return {
        "seconds": {
            "machine": usage.machine_s,
            **usage.components_s,
            "other": usage.other_s,
        },
        "machine_busy_share": usage.machine_s / usage.machine_capacity_s
        if usage.machine_capacity_s
        else None,
        "ms_per_order": usage.per_order_ms(orders),
    }


def sustained_figures(
    book: StageBook,
    carts: Sequence[str],
    usage: CpuUsage,
    raw_limits: Mapping[str, float],
    publish_wall_s: float,
) -> dict[str, Any]:
    rates = stage_rates(book, carts)
    completed = rates["stages"]["completed"]
    first, last = rates["first_checkout_ms"], completed["last_ms"]
    duration_s = (last - first) / 1000 if first is not None and last is not None else None
    events = book.records_between(first, last) if duration_s else 0
    events_per_s = events / duration_s if duration_s else None
    return {
        "orders": len(carts),
        "publish_wall_s": publish_wall_s,
        "duration_s": duration_s,
        "throughput_orders_per_s": completed["orders_per_s"],
        **rates,
        "pipeline_events": events,
        "pipeline_events_per_s": events_per_s,
        "share_of_raw_limit": {
            name: events_per_s / limit if events_per_s and limit else None
            for name, limit in raw_limits.items()
        },
        "cpu": cpu_figures(usage, completed["orders"]),
    }


def paced_figures(
    book: StageBook, carts: Sequence[str], usage: CpuUsage, target_per_s: float
) -> dict[str, Any]:
    rates = stage_rates(book, carts)
    return {
        "orders": len(carts),
        "target_orders_per_s": target_per_s,
        "checkouts_per_s": rates["checkouts_per_s"],
        "completed": rates["stages"]["completed"]["orders"],
        "latency_ms": stage_latencies_ms(book, carts),
        "cpu": cpu_figures(usage, rates["stages"]["completed"]["orders"]),
    }


def value_at(figures: Mapping[str, Any], path: Sequence[str]) -> float | None:
    node: Any = figures
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def ranges(runs: Sequence[Mapping[str, Any]], paths: Sequence[Sequence[str]]) -> dict[str, Any]:
    """min, max and every run's value of each figure at ``paths`` ("a.b.c" keys)."""
    summary: dict[str, Any] = {}
    for path in paths:
        values = [value_at(run, path) for run in runs]
        present = [v for v in values if v is not None]
        summary[".".join(path)] = {
            "min": min(present, default=None),
            "max": max(present, default=None),
            "runs": values,
        }
    return summary

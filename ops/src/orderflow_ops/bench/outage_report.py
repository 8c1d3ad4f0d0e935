"""The outage phase in the report: its rows of the results table and its verdict on whether
the machine sustains the asked rate at all (else a catch-up time means nothing).

Rows are (label, path, unit) triples, turned into the report's ``Row`` by :mod:`report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OUTAGE_SECTION = "Outage: a service SIGKILLed under paced load, then restarted"
# A load generator that published less than this share of the asked rate did not load it.
ACHIEVED_SHARE = 0.9

OUTAGE_ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("target orders/s", ("outage", "target_orders_per_s"), ""),
    ("checkouts published/s (achieved)", ("outage", "checkouts_per_s"), ""),
    ("sustained orders/s (same run)", ("outage", "sustained_orders_per_s"), ""),
    ("outage s (kill to restart)", ("outage", "outage_s"), ""),
    ("restart to ready s", ("outage", "restart_to_ready_s"), ""),
    ("backlog at ready: orders in flight", ("outage", "backlog_orders_at_ready"), ""),
    ("backlog at ready: its consumer lag", ("outage", "service_lag_records_at_ready"), ""),
    ("in flight before the outage (baseline)", ("outage", "baseline_in_flight"), ""),
    ("catch-up s (ready to baseline)", ("outage", "catch_up_s"), ""),
    ("backlog drained s", ("outage", "backlog_drained_s"), ""),
    ("orders/s while catching up", ("outage", "drain_orders_per_s"), ""),
    ("after catch-up: orders", ("outage", "after_catch_up", "orders"), ""),
    ("after catch-up: fulfillment p50 ms", ("outage", "after_catch_up", "p50"), ""),
    ("after catch-up: fulfillment p99 ms", ("outage", "after_catch_up", "p99"), ""),
)


def capacity_verdict(
    *,
    target: float,
    achieved: float | None,
    sustained: float | None,
    caught_up: bool,
    drain: float | None,
) -> dict[str, Any]:
    """Whether this run's catch-up time means anything, and why not in plain words."""
    reasons = []
    if achieved is None or achieved < ACHIEVED_SHARE * target:
        shown = "-" if achieved is None else f"{achieved:.1f}"
        reasons.append(f"the load generator published {shown} orders/s of the {target:g} asked")
    if sustained is not None and sustained <= target:
        reasons.append(
            f"the pipeline's full speed measured in this run is {sustained:.1f} orders/s, "
            f"not above the {target:g} asked"
        )
    if not caught_up:
        pace = "" if drain is None else f" (it got {drain:.1f} orders/s through after restart)"
        reasons.append(f"the pipeline never got back to its pre-outage backlog{pace}")
    if not reasons:
        text = f"sustained {target:g} orders/s: the catch-up time is meaningful"
    else:
        known = [rate for rate in (sustained, drain) if rate is not None]
        hint = f"; rerun with --outage-rate below {min(known):.0f}" if known else ""
        text = (
            f"NOT SUSTAINABLE at {target:g} orders/s on this machine: {'; '.join(reasons)}; "
            f"the catch-up time means nothing here{hint}"
        )
    return {"sustainable": not reasons, "reasons": reasons, "text": text}


def outage_lines(runs: list[Mapping[str, Any]]) -> list[str]:
    """One line per run with an outage: what was stopped, and the verdict."""
    lines = []
    for number, run in enumerate(runs, start=1):
        outage = run.get("outage")
        if not isinstance(outage, Mapping):
            continue
        verdict = outage.get("verdict", {})
        lines.append(
            f"run {number} outage: {outage.get('service')} {outage.get('signal')} for "
            f"{outage.get('outage_s', 0):.0f}s at {outage.get('target_orders_per_s'):g} orders/s: "
            f"{verdict.get('text', '-')}"
        )
    return lines

"""The console's two gauges, which the alert rules read: orders stuck per stage, and
invariant violations without the SLA lapses."""

from __future__ import annotations

from datetime import UTC, datetime

from orderflow_ops.console import metrics
from orderflow_ops.console.live import Violations
from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def evaluation(counts: dict[str, int], stuck: dict[str, int]) -> Violations:
    return Violations(counts, {}, datetime.now(UTC), stuck)


def test_stuck_orders_are_published_per_stage_and_a_stage_that_empties_reads_zero() -> None:
    metrics.record(evaluation({"stuck": 3}, {"awaiting_payment": 2, "placed": 1}))
    assert sample("orderflow_console_orders_stuck", stage="awaiting_payment") == 2
    assert sample("orderflow_console_orders_stuck", stage="placed") == 1

    metrics.record(evaluation({"stuck": 1}, {"placed": 1}))
    assert sample("orderflow_console_orders_stuck", stage="awaiting_payment") == 0
    assert sample("orderflow_console_orders_stuck", stage="placed") == 1


def test_invariant_violations_count_broken_rules_not_sla_lapses() -> None:
    metrics.record(
        evaluation({"stuck": 4, "charged_not_shipped": 1, "refunded_twice": 2}, {"placed": 4})
    )
    assert sample("orderflow_console_invariant_violations") == 3

    metrics.record(evaluation({}, {}))
    assert sample("orderflow_console_invariant_violations") == 0


def test_the_series_the_monitoring_files_may_use_are_the_gauges_themselves() -> None:
    assert metrics.exported_series() == {
        "orderflow_console_orders_stuck": frozenset({"stage"}),
        "orderflow_console_invariant_violations": frozenset(),
    }

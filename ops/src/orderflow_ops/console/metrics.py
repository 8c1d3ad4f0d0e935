"""What only the console knows, for Prometheus: orders stuck past their SLA and invariant
violations. The alert rules in ``deploy/monitoring`` read these two; the services' own
metrics come from the chassis."""

from __future__ import annotations

from prometheus_client import Gauge

from orderflow_ops.console.live import Violations

ORDERS_STUCK = Gauge(
    "orderflow_console_orders_stuck",
    "Orders waiting in a stage (an order state) longer than its SLA, as last evaluated",
    ["stage"],
)
INVARIANT_VIOLATIONS = Gauge(
    "orderflow_console_invariant_violations",
    "Violations of the rules of `orderflow-ops check` (SLA lapses not counted), as last evaluated",
)

# Codes that say an order waits too long, not that a rule is broken.
SLA_CODES = frozenset({"stuck"})


def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name above with its label names (the monitoring files are checked against
    it, like the chassis' own)."""
    return {
        gauge._name: frozenset(gauge._labelnames) for gauge in (ORDERS_STUCK, INVARIANT_VIOLATIONS)
    }


def record(found: Violations) -> None:
    """Publish one evaluation: every stage's stuck count (0 for stages that emptied)."""
    for stage in {*found.stuck_by_stage, *_stages_seen}:
        ORDERS_STUCK.labels(stage=stage).set(found.stuck_by_stage.get(stage, 0))
    _stages_seen.update(found.stuck_by_stage)
    INVARIANT_VIOLATIONS.set(
        sum(count for code, count in found.counts.items() if code not in SLA_CODES)
    )


_stages_seen: set[str] = set()

"""Returns' own metrics, beside the chassis' (on the same ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Gauge

HELD_AWAITING_READS_SECONDS = Gauge(
    "orderflow_returns_held_requests_awaiting_reads_seconds",
    "How long ago the wait of the oldest held request still waiting for the service to read "
    "the deliveries published before then ended (0: none waits; its consumer behind or stuck)",
)


def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name above with its label names (the monitoring files are checked against
    it, like the chassis' own)."""
    return {"orderflow_returns_held_requests_awaiting_reads_seconds": frozenset()}

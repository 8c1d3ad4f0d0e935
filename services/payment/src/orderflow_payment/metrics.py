"""Payment's own metrics, beside the chassis' (on the same ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

PAYMENTS_KEPT_ON_DECLINE = Counter(
    "orderflow_payment_kept_on_decline_total",
    "Payments a provider took at once that could not be undone, on orders declined: check them",
    ["provider"],
)


def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name above with its label names (the monitoring files are checked against
    it, like the chassis' own)."""
    return {"orderflow_payment_kept_on_decline_total": frozenset({"provider"})}

"""The cart's own Prometheus metrics (served on ``/metrics`` beside the chassis's).

Counted when decided, inside the transaction: a batch rolled back by a transient failure and
applied again counts twice. They are for dashboards, not for accounting.
"""

from __future__ import annotations

from prometheus_client import Counter

CHECKOUTS = Counter(
    "orderflow_cart_checkouts_total",
    "Checkout requests decided: placed (an order) or rejected",
    ["outcome"],
)
REJECTION_REASONS = Counter(
    "orderflow_cart_checkout_rejection_reasons_total",
    "Reasons given in CheckoutRejected, by code",
    ["code"],
)
UNAPPLIED_EVENTS = Counter(
    "orderflow_cart_unapplied_events_total",
    "Cart events received but not applied, by reason",
    ["reason"],
)
SKIPPED_SEQUENCES = Counter(
    "orderflow_cart_skipped_sequence_gaps_total",
    "Gaps in a cart's storefront sequence given up on after the timeout",
)
ABANDONED_CARTS = Counter(
    "orderflow_cart_abandoned_total", "Carts reported abandoned (CartAbandoned published)"
)

"""The configurable figures of the returns policy, in one value the handlers receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from orderflow_returns.domain.warranty import WarrantyPolicy
from orderflow_returns.domain.window import ReturnWindow


@dataclass(frozen=True)
class ReturnsPolicy:
    window: ReturnWindow = field(default_factory=ReturnWindow)
    return_shipping_days: int = 14
    warranty: WarrantyPolicy = field(
        default_factory=lambda: WarrantyPolicy(default_months=12, default_basis="default")
    )
    # How long a request that a delivery (or the order) not read yet could change waits for
    # one before it is rejected: events reach the service in any order across topics. Zero
    # judges at once.
    delivery_wait: timedelta = timedelta(0)

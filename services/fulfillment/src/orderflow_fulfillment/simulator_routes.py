"""Which warehouse shipped what: where the warehouse simulator sends a return back."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from orderflow_contracts.events import FulfillmentRequested, LineQuantity


class Routes:
    """Per order, the warehouse each SKU was requested from: every request the simulator
    reads, the other warehouses' too, so that simulators playing different warehouses agree
    on where a return goes (each answers only the returns of the warehouses it plays)."""

    def __init__(self) -> None:
        self._shipped_from: dict[uuid.UUID, dict[str, str]] = {}

    def remember(self, request: FulfillmentRequested) -> None:
        routes = self._shipped_from.setdefault(request.order_id, {})
        for line in request.lines:
            routes.setdefault(line.sku, request.warehouse_id)

    def return_warehouse(
        self,
        order_id: uuid.UUID | None,
        lines: Sequence[LineQuantity],
        *,
        default: str | None,
        played: Collection[str],
    ) -> str:
        """The warehouse that shipped most of the returned units, else ``default``, else the
        only warehouse ``played``."""
        routes = self._shipped_from.get(order_id, {}) if order_id else {}
        votes: dict[str, int] = {}
        for line in lines:
            if line.sku in routes:
                votes[routes[line.sku]] = votes.get(routes[line.sku], 0) + line.quantity
        if votes:
            return max(sorted(votes), key=lambda w: votes[w])
        if default:
            return default
        if len(played) == 1:
            return next(iter(played))
        raise LookupError("no warehouse to receive this return: set default_return_warehouse")

"""``orderflow-payment reconcile``: the service, its ledger and the provider must agree.

Run it in a read-only unit of work: all three records are then read from one snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from orderflow_payment.domain.reconciliation import (
    ProviderTotals,
    ReconciliationRun,
    order_figures,
    reconcile,
)
from orderflow_payment.handlers._movements import Work


async def reconcile_orders(
    since: datetime | None,
    orders: Sequence[uuid.UUID] | None,
    settle_s: float,
    uow: Work,
) -> ReconciliationRun:
    """Check the orders with activity since ``since`` (or only ``orders``; or all), leaving
    out those touched in the last ``settle_s`` seconds: the provider answers before the
    service commits. The ledger balance is checked over the whole ledger when no order is
    singled out, else over the checked orders."""
    stores = uow.repos
    selection = await stores.reconciliation.select_orders(
        since=since, only=orders, settle_s=settle_s
    )
    recorded = await stores.reconciliation.figures(selection.orders)
    at_provider = await stores.provider_record.totals(selection.orders)
    figures = [
        order_figures(ours, at_provider.get(ours.order_id, ProviderTotals())) for ours in recorded
    ]
    whole_ledger = since is None and not orders
    balances = await stores.reconciliation.ledger_balances(
        None if whole_ledger else selection.orders
    )
    return ReconciliationRun(reconcile(figures, balances), selection)

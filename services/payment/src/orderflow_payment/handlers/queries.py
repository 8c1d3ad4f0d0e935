"""Reads for ops: one order's payment, refunds and ledger rows (``GET /payments/{id}``)."""

from __future__ import annotations

import uuid

from orderflow_payment.domain.views import OrderPaymentView
from orderflow_payment.handlers._movements import Work


async def payment_of_order(order_id: uuid.UUID, uow: Work) -> OrderPaymentView | None:
    """Everything payment recorded about the order; None when it never heard of it."""
    view = await uow.repos.views.order_payment(order_id)
    return view if view.is_known else None

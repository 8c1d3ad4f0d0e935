"""HTTP for ops: one order's payment, refunds and ledger rows (no tokens, amounts exact)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.money import Money

from orderflow_payment.domain.views import OrderPaymentView, PaymentView
from orderflow_payment.ports import PaymentRepositories

SERVICE_NAME = "payment"

PaymentOfOrder = Callable[
    [uuid.UUID, UnitOfWork[PaymentRepositories]], Awaitable[OrderPaymentView | None]
]


def payments_router(payment_of_order: PaymentOfOrder) -> APIRouter:
    """The routes, calling the query use case bound in bootstrap."""
    router = APIRouter(prefix="/payments", tags=["payments"])

    @router.get("/{order_id}")
    async def payment_of_order_route(order_id: uuid.UUID, request: Request) -> dict[str, Any]:
        """The payment of one order: state, amounts, references, refunds and ledger entries."""
        transactions = request.app.state.resources.transactions
        async with transactions.begin(read_only=True) as uow:
            view = await payment_of_order(order_id, uow)
        if view is None:
            raise HTTPException(404, f"{SERVICE_NAME} knows nothing about order {order_id}")
        return _body(view)

    return router


def _money(money: Money) -> dict[str, str]:
    return {"amount": format(money.amount, "f"), "currency": money.currency.value}


def _payment(payment: PaymentView) -> dict[str, Any]:
    return {
        "payment_id": str(payment.payment_id),
        "status": payment.status,
        "method": payment.method,
        "provider": payment.provider,
        "token": payment.token_masked,
        "amount": _money(payment.amount),
        "captured": _money(payment.captured),
        "refunded": _money(payment.refunded),
        "authorisation_reference": payment.authorisation_reference,
        "capture_reference": payment.capture_reference,
        "decline_code": payment.decline_code,
        "void_reason": payment.void_reason,
        "expires_at": payment.expires_at,
    }


def _body(view: OrderPaymentView) -> dict[str, Any]:
    return {
        "order_id": str(view.order_id),
        "stock": view.stock,
        "cancelled_reason": view.cancelled_reason,
        "payment": None if view.payment is None else _payment(view.payment),
        "refunds": [
            {
                "refund_id": str(r.refund_id),
                "rma_id": str(r.rma_id) if r.rma_id else None,
                "status": r.status,
                "amount": _money(r.amount),
                "failure_code": r.failure_code,
                "failure_message": r.failure_message,
                "provider_reference": r.provider_reference,
            }
            for r in view.refunds
        ],
        "ledger": [
            {"kind": e.kind, "account": e.account, "amount": _money(e.amount)} for e in view.ledger
        ],
    }

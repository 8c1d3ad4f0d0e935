"""HTTP for ops: one order's payment, refunds and ledger rows (no tokens, amounts exact)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from orderflow_contracts.money import Money

SERVICE_NAME = "payment"

router = APIRouter(prefix="/payments", tags=["payments"])


def _money(minor: int, currency: str) -> dict[str, str]:
    money = Money.from_minor_units(minor, currency.strip())
    return {"amount": format(money.amount, "f"), "currency": money.currency.value}


@router.get("/{order_id}")
async def payment_of_order(order_id: uuid.UUID, request: Request) -> dict[str, Any]:
    """The payment of one order: state, amounts, references, refunds and ledger entries."""
    resources = request.app.state.resources
    schema = resources.settings.db_schema
    async with resources.pool.acquire() as connection:
        payment = await connection.fetchrow(
            f"SELECT * FROM {schema}.payments WHERE order_id = $1", order_id
        )
        facts = await connection.fetchrow(
            f"SELECT stock_status, cancelled_reason FROM {schema}.order_facts WHERE order_id = $1",
            order_id,
        )
        if payment is None and facts is None:
            raise HTTPException(404, f"{SERVICE_NAME} knows nothing about order {order_id}")
        refunds = await connection.fetch(
            f"""
            SELECT refund_id, rma_id, status, currency, amount_minor, failure_code,
                   failure_message, provider_reference, created_at
            FROM {schema}.refunds WHERE order_id = $1 ORDER BY created_at
            """,
            order_id,
        )
        entries = await connection.fetch(
            f"""
            SELECT t.kind, e.account, e.currency, e.amount_minor, e.created_at
            FROM {schema}.ledger_entries e JOIN {schema}.ledger_transactions t
                USING (transaction_id)
            WHERE e.order_id = $1 ORDER BY e.entry_id
            """,
            order_id,
        )
    body: dict[str, Any] = {
        "order_id": str(order_id),
        "stock": facts["stock_status"] if facts else None,
        "cancelled_reason": facts["cancelled_reason"] if facts else None,
        "payment": None,
    }
    if payment is not None:
        currency = payment["currency"]
        body["payment"] = {
            "payment_id": str(payment["payment_id"]),
            "status": payment["status"],
            "method": payment["method"],
            "provider": payment["provider"],
            "token": payment["token_masked"],
            "amount": _money(payment["amount_minor"], currency),
            "captured": _money(payment["captured_minor"], currency),
            "refunded": _money(payment["refunded_minor"], currency),
            "authorisation_reference": payment["authorisation_reference"],
            "capture_reference": payment["capture_reference"],
            "decline_code": payment["decline_code"],
            "void_reason": payment["void_reason"],
            "expires_at": payment["expires_at"],
        }
    body["refunds"] = [
        {
            "refund_id": str(r["refund_id"]),
            "rma_id": str(r["rma_id"]) if r["rma_id"] else None,
            "status": r["status"],
            "amount": _money(r["amount_minor"], r["currency"]),
            "failure_code": r["failure_code"],
            "failure_message": r["failure_message"],
            "provider_reference": r["provider_reference"],
        }
        for r in refunds
    ]
    body["ledger"] = [
        {
            "kind": e["kind"],
            "account": e["account"],
            "amount": _money(e["amount_minor"], e["currency"]),
        }
        for e in entries
    ]
    return body

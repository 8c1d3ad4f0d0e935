"""SQL for the ops view of one order: its payment, order facts, refunds and ledger rows."""

from __future__ import annotations

import uuid

import asyncpg
from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.money import Money

from orderflow_payment.domain.views import (
    LedgerEntryView,
    OrderPaymentView,
    PaymentView,
    RefundView,
)


def _money(minor: int, currency: str) -> Money:
    return Money.from_minor_units(minor, currency.strip())


def _payment(row: asyncpg.Record) -> PaymentView:
    currency = row["currency"]
    return PaymentView(
        payment_id=row["payment_id"],
        status=row["status"],
        method=row["method"],
        provider=row["provider"],
        token_masked=row["token_masked"],
        amount=_money(row["amount_minor"], currency),
        captured=_money(row["captured_minor"], currency),
        refunded=_money(row["refunded_minor"], currency),
        authorisation_reference=row["authorisation_reference"],
        capture_reference=row["capture_reference"],
        decline_code=row["decline_code"],
        void_reason=row["void_reason"],
        expires_at=row["expires_at"],
    )


class SqlPaymentViews:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def order_payment(self, order_id: uuid.UUID) -> OrderPaymentView:
        s = self._schema
        payment = await self._connection.fetchrow(
            f"SELECT * FROM {s}.payments WHERE order_id = $1", order_id
        )
        facts = await self._connection.fetchrow(
            f"SELECT stock_status, cancelled_reason FROM {s}.order_facts WHERE order_id = $1",
            order_id,
        )
        refunds = await self._connection.fetch(
            f"""
            SELECT refund_id, rma_id, status, currency, amount_minor, failure_code,
                   failure_message, provider_reference, created_at
            FROM {s}.refunds WHERE order_id = $1 ORDER BY created_at
            """,
            order_id,
        )
        entries = await self._connection.fetch(
            f"""
            SELECT t.kind, e.account, e.currency, e.amount_minor, e.created_at
            FROM {s}.ledger_entries e JOIN {s}.ledger_transactions t USING (transaction_id)
            WHERE e.order_id = $1 ORDER BY e.entry_id
            """,
            order_id,
        )
        return OrderPaymentView(
            order_id=order_id,
            facts_recorded=facts is not None,
            stock=facts["stock_status"] if facts else None,
            cancelled_reason=facts["cancelled_reason"] if facts else None,
            payment=None if payment is None else _payment(payment),
            refunds=[
                RefundView(
                    refund_id=r["refund_id"],
                    rma_id=r["rma_id"],
                    status=r["status"],
                    amount=_money(r["amount_minor"], r["currency"]),
                    failure_code=r["failure_code"],
                    failure_message=r["failure_message"],
                    provider_reference=r["provider_reference"],
                )
                for r in refunds
            ],
            ledger=[
                LedgerEntryView(e["kind"], e["account"], _money(e["amount_minor"], e["currency"]))
                for e in entries
            ],
        )

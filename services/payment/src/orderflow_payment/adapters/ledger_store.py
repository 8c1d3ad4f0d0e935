"""Writes ledger transactions (balanced, append-only) in the caller's transaction."""

from __future__ import annotations

import uuid

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier

from orderflow_payment.domain.ledger import LedgerTransaction


class SqlLedger:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def post(self, transaction: LedgerTransaction) -> bool:
        """Record ``transaction`` once; False when its idempotency key was already posted."""
        transaction_id = uuid.uuid4()
        inserted = await self._connection.fetchval(
            f"""
            INSERT INTO {self._schema}.ledger_transactions
                (transaction_id, idempotency_key, kind, order_id, payment_id, currency)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING true
            """,
            transaction_id,
            transaction.idempotency_key,
            transaction.kind.value,
            transaction.order_id,
            transaction.payment_id,
            transaction.currency,
        )
        if not inserted:
            return False
        await self._connection.executemany(
            f"""
            INSERT INTO {self._schema}.ledger_entries
                (transaction_id, order_id, account, currency, amount_minor)
            VALUES ($1, $2, $3, $4, $5)
            """,
            [
                (
                    transaction_id,
                    transaction.order_id,
                    posting.account.value,
                    posting.amount.currency.value,
                    posting.amount.minor_units,
                )
                for posting in transaction.postings
            ],
        )
        return True

"""Writes ledger transactions (balanced, append-only) in the caller's transaction."""

from __future__ import annotations

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.uuids import uuid7

from orderflow_payment.domain.ledger import LedgerTransaction


class SqlLedger:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def post(self, transaction: LedgerTransaction) -> bool:
        """Record ``transaction`` once; False when its idempotency key was already posted."""
        # One round trip: the transaction row, and its entries only if the row went in.
        inserted = await self._connection.fetchval(
            f"""
            WITH added AS (
                INSERT INTO {self._schema}.ledger_transactions
                    (transaction_id, idempotency_key, kind, order_id, payment_id, currency)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING transaction_id
            ), entries AS (
                INSERT INTO {self._schema}.ledger_entries
                    (transaction_id, order_id, account, currency, amount_minor)
                SELECT added.transaction_id, $4, e.account, e.currency, e.amount_minor
                FROM added,
                     unnest($7::text[], $8::text[], $9::bigint[]) WITH ORDINALITY
                         AS e(account, currency, amount_minor, position)
                ORDER BY e.position
            )
            SELECT count(*) > 0 FROM added
            """,
            uuid7(),
            transaction.idempotency_key,
            transaction.kind.value,
            transaction.order_id,
            transaction.payment_id,
            transaction.currency,
            [posting.account.value for posting in transaction.postings],
            [posting.amount.currency.value for posting in transaction.postings],
            [posting.amount.minor_units for posting in transaction.postings],
        )
        return bool(inserted)

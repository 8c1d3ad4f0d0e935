"""SQL for ``refunds``: one answer per refund id."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.money import Money

from orderflow_payment.domain.model import RefundRecord


class SqlRefunds:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def lock(self, refund_id: uuid.UUID) -> None:
        await self._connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('orderflow.payment.refund'), hashtext($1))",
            str(refund_id),
        )

    async def lock_all(self, refund_ids: Iterable[uuid.UUID]) -> None:
        # In the order of the lock keys, as the orders' (SqlPayments.lock_orders): two batches
        # that met one refund id twice, in crossing orders, queue instead of deadlocking.
        await self._connection.execute(
            """
            SELECT count(pg_advisory_xact_lock(hashtext('orderflow.payment.refund'), key))
            FROM (SELECT DISTINCT hashtext(r) AS key FROM unnest($1::text[]) AS r ORDER BY key)
                AS keys
            """,
            [str(refund_id) for refund_id in set(refund_ids)],
        )

    async def get(self, refund_id: uuid.UUID) -> RefundRecord | None:
        row = await self._connection.fetchrow(
            f"""
            SELECT refund_id, order_id, status, currency, amount_minor, failure_code
            FROM {self._schema}.refunds WHERE refund_id = $1
            """,
            refund_id,
        )
        if row is None:
            return None
        return RefundRecord(
            row["refund_id"],
            row["order_id"],
            row["status"],
            Money.from_minor_units(row["amount_minor"], row["currency"].strip()),
            row["failure_code"],
        )

    async def save(
        self,
        *,
        refund_id: uuid.UUID,
        order_id: uuid.UUID,
        payment_id: uuid.UUID | None,
        rma_id: uuid.UUID | None,
        amount: Money,
        caused_by: uuid.UUID,
        provider_reference: str | None = None,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.refunds
                (refund_id, order_id, payment_id, rma_id, status, currency, amount_minor,
                 failure_code, failure_message, provider_reference, caused_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (refund_id) DO UPDATE
            SET status = EXCLUDED.status, failure_code = EXCLUDED.failure_code,
                failure_message = EXCLUDED.failure_message,
                provider_reference = EXCLUDED.provider_reference,
                caused_by = EXCLUDED.caused_by, updated_at = now()
            """,
            refund_id,
            order_id,
            payment_id,
            rma_id,
            "failed" if failure_code else "issued",
            amount.currency.value,
            amount.minor_units,
            failure_code,
            failure_message,
            provider_reference,
            caused_by,
        )

"""SQL for ``payments``, one per order, on the unit of work's connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import asyncpg
from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.money import Money

from orderflow_payment.domain.model import Payment, PaymentStatus


def _payment(row: asyncpg.Record) -> Payment:
    currency = row["currency"].strip()
    return Payment(
        payment_id=row["payment_id"],
        order_id=row["order_id"],
        status=PaymentStatus(row["status"]),
        method=row["method"],
        provider=row["provider"],
        amount=Money.from_minor_units(row["amount_minor"], currency),
        captured=Money.from_minor_units(row["captured_minor"], currency),
        refunded=Money.from_minor_units(row["refunded_minor"], currency),
        authorisation_reference=row["authorisation_reference"],
        capture_reference=row["capture_reference"],
        expires_at=row["expires_at"],
        correlation_id=row["correlation_id"],
    )


# The orders whose lock a transaction holds already: ``lock_orders`` (the batch's
# ``lock_ahead``) sets it in the consumer's task, so each handler's ``lock_order`` of one of
# them costs no round trip. Keyed on the transaction: a later one holds none of them.
_HELD: TransactionLocal[frozenset[uuid.UUID]] = TransactionLocal("payment_orders_locked")

# A batch's payments, read at once after its locks (``read_ahead``) and handed out by ``get``
# until this transaction writes them. Every writer holds the order's lock, so no other
# transaction changes them meanwhile; a write drops the order's entry, so a write undone with
# its record's savepoint is never handed out either.
_READ: TransactionLocal[dict[uuid.UUID, Payment | None]] = TransactionLocal("payments_read")


class SqlPayments:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def lock_order(self, order_id: uuid.UUID) -> None:
        """Serialise all work on one order until the transaction ends, across instances.

        Capture needs two facts that arrive on different topics (possibly to two instances):
        without this lock, each could commit before seeing the other and none would capture.
        """
        held = _HELD.get(self._connection)
        if held is not None and order_id in held:
            return  # the batch's lock_ahead took it, in this transaction
        await self._connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('orderflow.payment'), hashtext($1))",
            str(order_id),
        )

    async def lock_orders(self, order_ids: Iterable[uuid.UUID]) -> None:
        """Take :meth:`lock_order`'s lock of every order at once, in the order of the lock keys.

        Two batches that take theirs record by record, one reading order A then B and the other
        B then A, deadlock; taken here first, in one global order, they queue instead. (The
        subquery's ORDER BY feeds the lock calls in key order: it is never flattened, because
        it has DISTINCT and the outer call is volatile.)
        """
        wanted = frozenset(order_ids)
        await self._connection.execute(
            """
            SELECT count(pg_advisory_xact_lock(hashtext('orderflow.payment'), key))
            FROM (SELECT DISTINCT hashtext(o) AS key FROM unnest($1::text[]) AS o ORDER BY key)
                AS keys
            """,
            [str(order_id) for order_id in wanted],
        )
        _HELD.set(self._connection, wanted)

    async def read_ahead(self, order_ids: Iterable[uuid.UUID]) -> None:
        wanted = list(set(order_ids))
        rows = await self._connection.fetch(
            f"SELECT * FROM {self._schema}.payments WHERE order_id = ANY($1::uuid[])", wanted
        )
        read: dict[uuid.UUID, Payment | None] = dict.fromkeys(wanted)
        for row in rows:
            read[row["order_id"]] = _payment(row)
        _READ.set(self._connection, read)

    def _forget(self, order_id: uuid.UUID) -> None:
        read = _READ.get(self._connection)
        if read is not None:
            read.pop(order_id, None)

    async def get(self, order_id: uuid.UUID) -> Payment | None:
        read = _READ.get(self._connection)
        if read is not None and order_id in read:
            found = read[order_id]
            return None if found is None else replace(found)  # the caller may change it
        row = await self._connection.fetchrow(
            f"SELECT * FROM {self._schema}.payments WHERE order_id = $1", order_id
        )
        return None if row is None else _payment(row)

    async def add(
        self,
        payment: Payment,
        *,
        token_masked: str,
        caused_by: uuid.UUID,
        decline_code: str | None = None,
    ) -> bool:
        """Insert a new payment; False when the order already has one (the unique key)."""
        self._forget(payment.order_id)
        inserted = await self._connection.fetchval(
            f"""
            INSERT INTO {self._schema}.payments
                (payment_id, order_id, status, method, provider, token_masked, currency,
                 amount_minor, authorisation_reference, decline_code, expires_at,
                 correlation_id, caused_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (order_id) DO NOTHING
            RETURNING true
            """,
            payment.payment_id,
            payment.order_id,
            payment.status.value,
            payment.method,
            payment.provider,
            token_masked,
            payment.currency,
            payment.amount.minor_units,
            payment.authorisation_reference,
            decline_code,
            payment.expires_at,
            payment.correlation_id,
            caused_by,
        )
        return bool(inserted)

    async def save(
        self,
        payment: Payment,
        *,
        void_reference: str | None = None,
        void_reason: str | None = None,
    ) -> None:
        self._forget(payment.order_id)
        await self._connection.execute(
            f"""
            UPDATE {self._schema}.payments
            SET status = $2, captured_minor = $3, refunded_minor = $4, capture_reference = $5,
                void_reference = coalesce($6, void_reference),
                void_reason = coalesce($7, void_reason), updated_at = now()
            WHERE payment_id = $1
            """,
            payment.payment_id,
            payment.status.value,
            payment.captured.minor_units,
            payment.refunded.minor_units,
            payment.capture_reference,
            void_reference,
            void_reason,
        )

    async def expired_authorisations(self, now: datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await self._connection.fetch(
            f"""
            (SELECT order_id, 0 AS tier, expires_at AS since FROM {self._schema}.payments
             WHERE status = 'authorised' AND expiry_deferred_at IS NULL AND expires_at <= $1
             ORDER BY expires_at LIMIT $2)
            UNION ALL
            (SELECT order_id, 1, expiry_deferred_at FROM {self._schema}.payments
             WHERE status = 'authorised' AND expiry_deferred_at IS NOT NULL AND expires_at <= $1
             ORDER BY expiry_deferred_at LIMIT $2)
            ORDER BY tier, since LIMIT $2
            """,
            now,
            limit,
        )
        return [row["order_id"] for row in rows]

    async def defer_expiry(self, order_id: uuid.UUID, now: datetime) -> None:
        await self._connection.execute(
            f"UPDATE {self._schema}.payments SET expiry_deferred_at = $2 WHERE order_id = $1",
            order_id,
            now,
        )

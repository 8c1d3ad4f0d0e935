"""SQL for payments, refunds and order facts; every method runs on the caller's connection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.money import Money

from orderflow_payment.domain.model import Payment, PaymentStatus, StockStatus


@dataclass(frozen=True)
class OrderFacts:
    stock_status: StockStatus | None = None
    cancelled_reason: str | None = None

    @property
    def order_is_dead(self) -> bool:
        """Nothing will ever be captured for this order: do not authorise it."""
        return self.cancelled_reason is not None or self.stock_status in (
            StockStatus.UNAVAILABLE,
            StockStatus.RELEASED,
        )


@dataclass(frozen=True)
class RefundRecord:
    refund_id: uuid.UUID
    order_id: uuid.UUID
    status: str
    amount: Money
    failure_code: str | None


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


class PaymentRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    async def lock_order(self, order_id: uuid.UUID) -> None:
        """Serialise all work on one order until the transaction ends, across instances.

        Capture needs two facts that arrive on different topics (possibly to two instances):
        without this lock, each could commit before seeing the other and none would capture.
        """
        await self._connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('orderflow.payment'), hashtext($1))",
            str(order_id),
        )

    async def get(self, order_id: uuid.UUID) -> Payment | None:
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

    async def facts(self, order_id: uuid.UUID) -> OrderFacts:
        row = await self._connection.fetchrow(
            f"""
            SELECT stock_status, cancelled_reason FROM {self._schema}.order_facts
            WHERE order_id = $1
            """,
            order_id,
        )
        if row is None:
            return OrderFacts()
        stock = row["stock_status"]
        return OrderFacts(StockStatus(stock) if stock else None, row["cancelled_reason"])

    async def record_stock(self, order_id: uuid.UUID, status: StockStatus) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.order_facts (order_id, stock_status) VALUES ($1, $2)
            ON CONFLICT (order_id) DO UPDATE
            SET stock_status = EXCLUDED.stock_status, updated_at = now()
            """,
            order_id,
            status.value,
        )

    async def record_cancellation(self, order_id: uuid.UUID, reason: str) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.order_facts (order_id, cancelled_reason) VALUES ($1, $2)
            ON CONFLICT (order_id) DO UPDATE
            SET cancelled_reason =
                    coalesce(order_facts.cancelled_reason, EXCLUDED.cancelled_reason),
                updated_at = now()
            """,
            order_id,
            reason,
        )

    async def refund(self, refund_id: uuid.UUID) -> RefundRecord | None:
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

    async def save_refund(
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

    async def expired_authorisations(self, now: datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await self._connection.fetch(
            f"""
            SELECT order_id FROM {self._schema}.payments
            WHERE status = 'authorised' AND expires_at <= $1
            ORDER BY expires_at LIMIT $2
            """,
            now,
            limit,
        )
        return [row["order_id"] for row in rows]

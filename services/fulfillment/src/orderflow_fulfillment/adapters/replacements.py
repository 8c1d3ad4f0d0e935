"""Warranty replacements, and those waiting for stock, in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from orderflow_chassis.database import Connection
from orderflow_contracts.events import PostalAddress

from orderflow_fulfillment.domain.allocation import Line
from orderflow_fulfillment.ports import ReplacementRecord


class ReplacementRepository:
    """The :class:`~orderflow_fulfillment.ports.Replacements` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    async def insert_replacement(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        lines: Sequence[Line],
        ship_to: PostalAddress,
        correlation_id: str,
    ) -> bool:
        inserted = await self._db.fetchval(
            f"""
            INSERT INTO {self._s}.replacements (order_id, claim_id, status, lines, ship_to,
                correlation_id)
            VALUES ($1, $2, 'awaiting_stock', $3, $4, $5)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            order_id,
            claim_id,
            [[line.sku, line.quantity] for line in lines],
            ship_to.model_dump(mode="json"),
            correlation_id,
        )
        return bool(inserted)

    async def correlation_of(self, order_id: uuid.UUID, claim_id: str) -> str | None:
        found: str | None = await self._db.fetchval(
            f"SELECT correlation_id FROM {self._s}.replacements "
            "WHERE order_id = $1 AND claim_id = $2",
            order_id,
            claim_id,
        )
        return found

    async def replacement_attempted(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        attempted_at: datetime,
        requested_at: datetime | None,
    ) -> None:
        await self._db.execute(
            f"""
            UPDATE {self._s}.replacements
            SET attempts = attempts + 1, updated_at = now(), last_attempt_at = $3,
                status = CASE WHEN $4::timestamptz IS NULL THEN status ELSE 'requested' END,
                requested_at = coalesce($4, requested_at)
            WHERE order_id = $1 AND claim_id = $2
            """,
            order_id,
            claim_id,
            attempted_at,
            requested_at,
        )

    async def backordered_replacements(
        self,
        limit: int,
        *,
        tried_before: datetime,
        skipping: Sequence[tuple[uuid.UUID, str]] = (),
    ) -> list[ReplacementRecord]:
        rows = await self._db.fetch(
            f"""
            SELECT order_id, claim_id, lines, ship_to, correlation_id, attempts
            FROM {self._s}.replacements
            WHERE status = 'awaiting_stock'
              AND (last_attempt_at IS NULL OR last_attempt_at < $2)
              AND (order_id, claim_id) NOT IN (
                  SELECT * FROM unnest($3::uuid[], $4::text[]))
            ORDER BY last_attempt_at NULLS FIRST, created_at
            LIMIT $1 FOR UPDATE SKIP LOCKED
            """,
            limit,
            tried_before,
            [order_id for order_id, _ in skipping],
            [claim_id for _, claim_id in skipping],
        )
        return [
            ReplacementRecord(
                order_id=r["order_id"],
                claim_id=r["claim_id"],
                lines=tuple(Line(sku, qty) for sku, qty in r["lines"]),
                ship_to=PostalAddress.model_validate(r["ship_to"]),
                correlation_id=r["correlation_id"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    async def retry_first(self, skus: Collection[str]) -> None:
        # Rows locked now are being tried by the retry job, which then waits for this
        # transaction's stock locks and sees the new stock: skipped, never waited for.
        await self._db.execute(
            f"""
            UPDATE {self._s}.replacements SET last_attempt_at = NULL
            WHERE (order_id, claim_id) IN (
                SELECT order_id, claim_id FROM {self._s}.replacements
                WHERE status = 'awaiting_stock' AND last_attempt_at IS NOT NULL
                  AND EXISTS (SELECT 1 FROM jsonb_array_elements(lines) AS line
                              WHERE line ->> 0 = ANY($1::text[]))
                FOR UPDATE SKIP LOCKED
            )
            """,
            sorted(skus),
        )

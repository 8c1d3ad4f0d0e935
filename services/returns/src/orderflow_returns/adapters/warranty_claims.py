"""SQL for warranty claims and the units accepted claims replaced."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from orderflow_contracts.events import WarrantyClaimFiled

from orderflow_returns.adapters._sql import SqlRepository


class SqlWarrantyClaims(SqlRepository):
    async def known(self, order_id: uuid.UUID, claim_id: str) -> bool:
        return bool(
            await self.connection.fetchval(
                f"""
                SELECT EXISTS (SELECT 1 FROM {self.s}.warranty_claims
                               WHERE order_id = $1 AND claim_id = $2)
                """,
                order_id,
                claim_id,
            )
        )

    async def claimed_units(self, order_id: uuid.UUID, sku: str) -> int:
        claimed = await self.connection.fetchval(
            f"SELECT count(*) FROM {self.s}.warranty_units WHERE order_id = $1 AND sku = $2",
            order_id,
            sku,
        )
        return int(claimed)

    async def record(
        self,
        claim: WarrantyClaimFiled,
        *,
        outcome: str,
        filed_at: datetime,
        decided_at: datetime,
        reason_code: str | None = None,
        message: str | None = None,
        term_months: int | None = None,
        warranty_ends_on: date | None = None,
        units: range = range(0),
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.warranty_claims (order_id, claim_id, sku, quantity,
                country_of_usage, defect_description, serial_number, outcome, reason_code,
                message, term_months, warranty_ends_on, filed_at, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            """,
            claim.order_id,
            claim.claim_id,
            claim.sku,
            claim.quantity,
            claim.country_of_usage,
            claim.defect_description,
            claim.serial_number,
            outcome,
            reason_code,
            message,
            term_months,
            warranty_ends_on,
            filed_at,
            decided_at,
        )
        if units:
            # The primary key (order, sku, unit) is what makes a unit replaceable only once.
            await self.connection.executemany(
                f"""
                INSERT INTO {self.s}.warranty_units (order_id, sku, unit_index, claim_id)
                VALUES ($1, $2, $3, $4)
                """,
                [(claim.order_id, claim.sku, unit, claim.claim_id) for unit in units],
            )

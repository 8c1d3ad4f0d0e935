"""SQL on the ``returns`` schema. Every method runs on the caller's connection (the handler's
transaction); statements are schema-qualified with the validated schema name."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.events import OrderPlaced, PostalAddress, WarrantyClaimFiled
from orderflow_contracts.money import Currency, Money

from orderflow_returns.domain.refunds import OrderSnapshot, PaidLine
from orderflow_returns.domain.returns import Delivery, OrderFacts
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.domain.warranty import ClaimFacts


@dataclass(frozen=True)
class Rma:
    rma_id: uuid.UUID
    order_id: uuid.UUID
    return_request_id: str
    correlation_id: str
    state: RmaState
    return_by: date
    current_refund_id: uuid.UUID | None
    refund_attempts: int


@dataclass(frozen=True)
class RefundRecord:
    refund_id: uuid.UUID
    order_id: uuid.UUID
    rma_id: uuid.UUID | None
    origin: str
    state: str


class ReturnsRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self.connection = connection
        self.s = validate_identifier(schema)

    # ------------------------------------------------------------------ concurrency

    async def lock_order(self, order_id: uuid.UUID) -> None:
        """Serialise every decision about one order (several consumers, topics or instances
        may touch it at once); released at commit."""
        await self.connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"returns:order:{order_id}"
        )

    # ------------------------------------------------------------------ upstream facts

    async def record_order(self, event: OrderPlaced, placed_at: datetime) -> bool:
        """Store the order snapshot; False when it was already known."""
        inserted = await self.connection.fetchval(
            f"""
            INSERT INTO {self.s}.orders (order_id, customer_id, currency, subtotal,
                shipping_fee, total, ship_to, placed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (order_id) DO NOTHING
            RETURNING true
            """,
            event.order_id,
            event.customer_id,
            event.currency.value,
            event.subtotal.amount,
            event.shipping_fee.amount,
            event.total.amount,
            event.ship_to.model_dump(mode="json"),
            placed_at,
        )
        if not inserted:
            return False
        merged: dict[str, tuple[str, int, Decimal, Decimal]] = {}
        for line in event.lines:
            if line.sku in merged:  # one SKU on two lines: one line of the summed quantity
                name, quantity, unit_price, total = merged[line.sku]
                merged[line.sku] = (
                    name,
                    quantity + line.quantity,
                    unit_price,
                    total + line.line_total.amount,
                )
            else:
                merged[line.sku] = (
                    line.name,
                    line.quantity,
                    line.unit_price.amount,
                    line.line_total.amount,
                )
        await self.connection.executemany(
            f"""
            INSERT INTO {self.s}.order_lines
                (order_id, sku, name, quantity, unit_price, line_total)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            [(event.order_id, sku, *values) for sku, values in merged.items()],
        )
        return True

    async def record_delivery(
        self,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        lines: Sequence[tuple[str, int]],
        delivered_at: datetime,
        *,
        replacement: bool,
    ) -> bool:
        """Store a delivered shipment; False when it was already known."""
        inserted = 0
        for sku, quantity in lines:
            row = await self.connection.fetchval(
                f"""
                INSERT INTO {self.s}.deliveries
                    (shipment_id, sku, order_id, quantity, delivered_at, replacement)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (shipment_id, sku) DO NOTHING
                RETURNING true
                """,
                shipment_id,
                sku,
                order_id,
                quantity,
                delivered_at,
                replacement,
            )
            inserted += 1 if row else 0
        return inserted > 0

    async def record_capture(
        self, order_id: uuid.UUID, payment_id: uuid.UUID, amount: Money
    ) -> bool:
        inserted = await self.connection.fetchval(
            f"""
            INSERT INTO {self.s}.captures (payment_id, order_id, amount, currency)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (payment_id) DO NOTHING
            RETURNING true
            """,
            payment_id,
            order_id,
            amount.amount,
            amount.currency.value,
        )
        return bool(inserted)

    # ------------------------------------------------------------------ reading facts

    async def order_facts(self, order_id: uuid.UUID) -> OrderFacts:
        order = await self.connection.fetchrow(
            f"SELECT customer_id FROM {self.s}.orders WHERE order_id = $1", order_id
        )
        ordered = {
            row["sku"]: row["quantity"]
            for row in await self.connection.fetch(
                f"SELECT sku, quantity FROM {self.s}.order_lines WHERE order_id = $1", order_id
            )
        }
        return OrderFacts(
            order_placed=order is not None,
            ordered=ordered,
            deliveries=tuple(await self._deliveries(order_id)),
            returned=await self.returned_units(order_id),
            customer_id=order["customer_id"] if order is not None else None,
        )

    async def _deliveries(self, order_id: uuid.UUID, sku: str | None = None) -> list[Delivery]:
        # Replacement shipments (warranty) are not units the customer paid for: never
        # returnable for money, never a new warranty unit.
        rows = await self.connection.fetch(
            f"""
            SELECT sku, quantity, delivered_at FROM {self.s}.deliveries
            WHERE order_id = $1 AND NOT replacement AND ($2::text IS NULL OR sku = $2)
            ORDER BY delivered_at, shipment_id
            """,
            order_id,
            sku,
        )
        return [Delivery(r["sku"], r["quantity"], r["delivered_at"]) for r in rows]

    async def returned_units(
        self, order_id: uuid.UUID, *, excluding: uuid.UUID | None = None
    ) -> dict[str, int]:
        """Units per SKU taken back by the order's RMAs: authorised while the parcel is on its
        way, then what actually came back."""
        rows = await self.connection.fetch(
            f"""
            SELECT l.sku,
                   SUM(CASE WHEN r.state = 'authorised' THEN l.authorised_quantity
                            ELSE COALESCE(l.returned_quantity, 0) END)::int AS units
            FROM {self.s}.rmas r JOIN {self.s}.rma_lines l USING (rma_id)
            WHERE r.order_id = $1 AND ($2::uuid IS NULL OR r.rma_id <> $2)
            GROUP BY l.sku
            """,
            order_id,
            excluding,
        )
        return {row["sku"]: row["units"] for row in rows if row["units"]}

    async def claim_facts(self, order_id: uuid.UUID, sku: str) -> ClaimFacts:
        facts = await self.order_facts(order_id)
        claimed = await self.connection.fetchval(
            f"SELECT count(*) FROM {self.s}.warranty_units WHERE order_id = $1 AND sku = $2",
            order_id,
            sku,
        )
        return ClaimFacts(
            order_placed=facts.order_placed,
            ordered=facts.ordered,
            deliveries=tuple(d for d in facts.deliveries if d.sku == sku),
            returned_units=facts.returned.get(sku, 0),
            claimed_units=int(claimed),
            customer_id=facts.customer_id,
        )

    async def order_snapshot(self, order_id: uuid.UUID) -> OrderSnapshot | None:
        order = await self.connection.fetchrow(
            f"SELECT currency, shipping_fee, total FROM {self.s}.orders WHERE order_id = $1",
            order_id,
        )
        if order is None:
            return None
        currency = Currency.of(order["currency"])
        lines = await self.connection.fetch(
            f"SELECT sku, quantity, line_total FROM {self.s}.order_lines WHERE order_id = $1",
            order_id,
        )
        return OrderSnapshot(
            currency=currency,
            lines={
                r["sku"]: PaidLine(r["sku"], r["quantity"], Money.of(r["line_total"], currency))
                for r in lines
            },
            shipping_fee=Money.of(order["shipping_fee"], currency),
            total=Money.of(order["total"], currency),
        )

    async def ship_to(self, order_id: uuid.UUID) -> PostalAddress:
        stored = await self.connection.fetchval(
            f"SELECT ship_to FROM {self.s}.orders WHERE order_id = $1", order_id
        )
        return PostalAddress.model_validate(stored)

    async def refundable(self, order_id: uuid.UUID, snapshot: OrderSnapshot) -> Money:
        """What may still be refunded: captured (or, while no capture is known, the order
        total) minus every refund requested or issued so far (failed ones excluded)."""
        captured = await self.connection.fetchval(
            f"""
            SELECT SUM(amount) FROM {self.s}.captures
            WHERE order_id = $1 AND currency = $2
            """,
            order_id,
            snapshot.currency.value,
        )
        paid = Money.of(captured, snapshot.currency) if captured is not None else snapshot.total
        committed = await self.connection.fetchval(
            f"""
            SELECT COALESCE(SUM(amount), 0) FROM {self.s}.refunds
            WHERE order_id = $1 AND currency = $2 AND state IN ('requested', 'issued')
            """,
            order_id,
            snapshot.currency.value,
        )
        return paid - Money.of(committed, snapshot.currency)

    async def previously_refunded_units(
        self, order_id: uuid.UUID, excluding: uuid.UUID
    ) -> tuple[dict[str, int], bool]:
        """Units per SKU already priced by the order's other RMAs, and whether one of them
        already carries the shipping fee."""
        rows = await self.connection.fetch(
            f"""
            SELECT l.sku, SUM(l.returned_quantity)::int AS units
            FROM {self.s}.rmas r JOIN {self.s}.rma_lines l USING (rma_id)
            WHERE r.order_id = $1 AND r.rma_id <> $2 AND l.refund_amount IS NOT NULL
            GROUP BY l.sku
            """,
            order_id,
            excluding,
        )
        shipping = await self.connection.fetchval(
            f"""
            SELECT EXISTS (SELECT 1 FROM {self.s}.rmas
                           WHERE order_id = $1 AND rma_id <> $2 AND shipping_refund > 0)
            """,
            order_id,
            excluding,
        )
        return {r["sku"]: r["units"] for r in rows if r["units"]}, bool(shipping)

    # ------------------------------------------------------------------ return requests

    async def return_request_known(self, order_id: uuid.UUID, request_id: str) -> bool:
        return bool(
            await self.connection.fetchval(
                f"""
                SELECT EXISTS (SELECT 1 FROM {self.s}.return_requests
                               WHERE order_id = $1 AND return_request_id = $2)
                """,
                order_id,
                request_id,
            )
        )

    async def record_return_request(
        self,
        order_id: uuid.UUID,
        request_id: str,
        *,
        outcome: str,
        requested_at: datetime,
        decided_at: datetime,
        rma_id: uuid.UUID | None = None,
        reason_code: str | None = None,
        message: str | None = None,
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.return_requests (order_id, return_request_id, outcome,
                reason_code, message, rma_id, requested_at, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            order_id,
            request_id,
            outcome,
            reason_code,
            message,
            rma_id,
            requested_at,
            decided_at,
        )

    async def create_rma(
        self,
        *,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        request_id: str,
        correlation_id: str,
        reason: str,
        lines: Sequence[tuple[str, int]],
        authorised_at: datetime,
        return_by: date,
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.rmas (rma_id, order_id, return_request_id, correlation_id,
                state, reason, authorised_at, return_by, updated_at)
            VALUES ($1, $2, $3, $4, 'authorised', $5, $6, $7, $6)
            """,
            rma_id,
            order_id,
            request_id,
            correlation_id,
            reason,
            authorised_at,
            return_by,
        )
        await self.connection.executemany(
            f"""
            INSERT INTO {self.s}.rma_lines (rma_id, sku, authorised_quantity)
            VALUES ($1, $2, $3)
            """,
            [(rma_id, sku, quantity) for sku, quantity in lines],
        )

    # ------------------------------------------------------------------ RMAs

    async def rma(self, rma_id: uuid.UUID, *, for_update: bool = False) -> Rma | None:
        row = await self.connection.fetchrow(
            f"""
            SELECT rma_id, order_id, return_request_id, correlation_id, state, return_by,
                   current_refund_id, refund_attempts
            FROM {self.s}.rmas WHERE rma_id = $1 {"FOR UPDATE" if for_update else ""}
            """,
            rma_id,
        )
        if row is None:
            return None
        return Rma(**{**dict(row), "state": RmaState(row["state"])})

    async def rmas_in_state(self, order_id: uuid.UUID, state: RmaState) -> list[uuid.UUID]:
        rows = await self.connection.fetch(
            f"""
            SELECT rma_id FROM {self.s}.rmas WHERE order_id = $1 AND state = $2
            ORDER BY received_at, rma_id
            """,
            order_id,
            state.value,
        )
        return [row["rma_id"] for row in rows]

    async def authorised_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        rows = await self.connection.fetch(
            f"SELECT sku, authorised_quantity FROM {self.s}.rma_lines WHERE rma_id = $1",
            rma_id,
        )
        return {r["sku"]: r["authorised_quantity"] for r in rows}

    async def returned_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        rows = await self.connection.fetch(
            f"""
            SELECT sku, returned_quantity FROM {self.s}.rma_lines
            WHERE rma_id = $1 AND returned_quantity > 0 ORDER BY sku
            """,
            rma_id,
        )
        return {r["sku"]: r["returned_quantity"] for r in rows}

    async def record_parcel(
        self,
        rma_id: uuid.UUID,
        *,
        warehouse_id: str,
        received_at: datetime,
        received: dict[str, int],
        damaged: dict[str, int],
        authorised: dict[str, int],
    ) -> None:
        """Store what came back; units not authorised are recorded (0 authorised) but never
        returned for a refund."""
        for sku in sorted(set(received) | set(authorised)):
            got, allowed = received.get(sku, 0), authorised.get(sku, 0)
            await self.connection.execute(
                f"""
                INSERT INTO {self.s}.rma_lines (rma_id, sku, authorised_quantity,
                    received_quantity, damaged_quantity, returned_quantity)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (rma_id, sku) DO UPDATE SET
                    received_quantity = EXCLUDED.received_quantity,
                    damaged_quantity = EXCLUDED.damaged_quantity,
                    returned_quantity = EXCLUDED.returned_quantity
                """,
                rma_id,
                sku,
                allowed,
                got,
                damaged.get(sku, 0),
                min(got, allowed),
            )
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET state = 'received', received_at = $2, warehouse_id = $3,
                updated_at = now()
            WHERE rma_id = $1
            """,
            rma_id,
            received_at,
            warehouse_id,
        )

    async def set_state(
        self,
        rma_id: uuid.UUID,
        state: RmaState,
        *,
        at: datetime,
        problem: tuple[str, str] | None = None,
    ) -> None:
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET state = $2, updated_at = now(),
                problem_code = $3, problem_message = $4,
                closed_at = CASE WHEN $2 = 'closed' THEN $5 ELSE closed_at END
            WHERE rma_id = $1
            """,
            rma_id,
            state.value,
            problem[0] if problem else None,
            problem[1] if problem else None,
            at,
        )

    async def record_pricing(
        self,
        rma_id: uuid.UUID,
        *,
        currency: Currency,
        line_amounts: dict[str, Money],
        amount: Money,
        shipping_refund: Money,
    ) -> None:
        for sku, money in line_amounts.items():
            await self.connection.execute(
                f"UPDATE {self.s}.rma_lines SET refund_amount = $3 WHERE rma_id = $1 AND sku = $2",
                rma_id,
                sku,
                money.amount,
            )
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET currency = $2, refund_amount = $3, shipping_refund = $4
            WHERE rma_id = $1
            """,
            rma_id,
            currency.value,
            amount.amount,
            shipping_refund.amount,
        )

    async def priced_refund(
        self, rma_id: uuid.UUID
    ) -> tuple[Money, Money, dict[str, Money]] | None:
        """The amount, shipping part and line amounts an RMA was priced at (None if never)."""
        row = await self.connection.fetchrow(
            f"SELECT currency, refund_amount, shipping_refund FROM {self.s}.rmas WHERE rma_id = $1",
            rma_id,
        )
        if row is None or row["refund_amount"] is None:
            return None
        currency = Currency.of(row["currency"])
        lines = await self.connection.fetch(
            f"""
            SELECT sku, refund_amount FROM {self.s}.rma_lines
            WHERE rma_id = $1 AND returned_quantity > 0 ORDER BY sku
            """,
            rma_id,
        )
        return (
            Money.of(row["refund_amount"], currency),
            Money.of(row["shipping_refund"], currency),
            {r["sku"]: Money.of(r["refund_amount"], currency) for r in lines},
        )

    # ------------------------------------------------------------------ refunds

    async def start_refund(
        self,
        *,
        refund_id: uuid.UUID,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        attempt: int,
        amount: Money,
        shipping_refund: Money,
        at: datetime,
    ) -> None:
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.refunds (refund_id, order_id, rma_id, attempt, origin, state,
                amount, currency, shipping_refund, requested_at)
            VALUES ($1, $2, $3, $4, 'rma', 'requested', $5, $6, $7, $8)
            """,
            refund_id,
            order_id,
            rma_id,
            attempt,
            amount.amount,
            amount.currency.value,
            shipping_refund.amount,
            at,
        )
        await self.connection.execute(
            f"""
            UPDATE {self.s}.rmas SET state = 'refund_requested', current_refund_id = $2,
                refund_attempts = $3, problem_code = NULL, problem_message = NULL,
                updated_at = now()
            WHERE rma_id = $1
            """,
            rma_id,
            refund_id,
            attempt,
        )

    async def refund(
        self, refund_id: uuid.UUID, *, for_update: bool = False
    ) -> RefundRecord | None:
        row = await self.connection.fetchrow(
            f"""
            SELECT refund_id, order_id, rma_id, origin, state FROM {self.s}.refunds
            WHERE refund_id = $1 {"FOR UPDATE" if for_update else ""}
            """,
            refund_id,
        )
        return RefundRecord(**dict(row)) if row is not None else None

    async def settle_refund(
        self,
        refund_id: uuid.UUID,
        state: str,
        *,
        at: datetime,
        failure: tuple[str, str] | None = None,
    ) -> None:
        await self.connection.execute(
            f"""
            UPDATE {self.s}.refunds SET state = $2, settled_at = $3,
                failure_code = $4, failure_message = $5
            WHERE refund_id = $1
            """,
            refund_id,
            state,
            at,
            failure[0] if failure else None,
            failure[1] if failure else None,
        )

    async def record_external_refund(
        self, refund_id: uuid.UUID, order_id: uuid.UUID, amount: Money, at: datetime
    ) -> None:
        """A refund payment made that we did not request: it counts against the ceiling."""
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.refunds (refund_id, order_id, origin, state, amount, currency,
                settled_at)
            VALUES ($1, $2, 'payment', 'issued', $3, $4, $5)
            ON CONFLICT (refund_id) DO NOTHING
            """,
            refund_id,
            order_id,
            amount.amount,
            amount.currency.value,
            at,
        )

    # ------------------------------------------------------------------ warranty

    async def claim_known(self, order_id: uuid.UUID, claim_id: str) -> bool:
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

    async def record_claim(
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
            await self.connection.executemany(
                f"""
                INSERT INTO {self.s}.warranty_units (order_id, sku, unit_index, claim_id)
                VALUES ($1, $2, $3, $4)
                """,
                [(claim.order_id, claim.sku, unit, claim.claim_id) for unit in units],
            )

    # ------------------------------------------------------------------ ops queries

    async def list_rmas(
        self,
        *,
        state: RmaState | None = None,
        order_id: uuid.UUID | None = None,
        rma_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """RMAs for ops, newest change first, with their lines and refund."""
        rows = await self.connection.fetch(
            f"""
            SELECT r.rma_id, r.order_id, r.return_request_id, r.state, r.reason,
                   r.authorised_at, r.return_by, r.received_at, r.warehouse_id,
                   r.current_refund_id AS refund_id, r.refund_attempts, r.currency,
                   r.refund_amount, r.shipping_refund, r.problem_code, r.problem_message,
                   r.closed_at, r.updated_at,
                   COALESCE(json_agg(json_build_object(
                       'sku', l.sku, 'authorised', l.authorised_quantity,
                       'received', l.received_quantity, 'damaged', l.damaged_quantity,
                       'returned', l.returned_quantity, 'refund_amount', l.refund_amount::text)
                       ORDER BY l.sku) FILTER (WHERE l.sku IS NOT NULL), '[]') AS lines
            FROM {self.s}.rmas r LEFT JOIN {self.s}.rma_lines l USING (rma_id)
            WHERE ($1::text IS NULL OR r.state = $1) AND ($2::uuid IS NULL OR r.order_id = $2)
              AND ($3::uuid IS NULL OR r.rma_id = $3)
            GROUP BY r.rma_id
            ORDER BY r.updated_at DESC, r.rma_id
            LIMIT $4
            """,
            state.value if state else None,
            order_id,
            rma_id,
            limit,
        )
        return [_jsonable(dict(row)) for row in rows]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID | Decimal):
            out[key] = str(value)
        elif isinstance(value, datetime | date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out

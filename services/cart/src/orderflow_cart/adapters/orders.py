"""The orders carts became, in the ``cart`` schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.events import OrderPlaced


def stored_snapshot(placed: OrderPlaced) -> dict[str, Any]:
    """The OrderPlaced data as kept by the cart: without the payment token (its last four
    characters only), which payment needs once and nobody needs to keep."""
    snapshot = placed.model_dump(mode="json")
    token = snapshot["payment"].pop("provider_token")
    snapshot["payment"]["provider_token_ending"] = token[-4:]
    return snapshot


# The orders a batch's checkouts placed, once ``defer_adds`` is called, until
# ``write_pending`` inserts them: rows ready to insert, by order id. A cart's order id is
# derived from the cart, so a checkout dead-lettered after it added its order and a later
# checkout of the same cart in the batch add the same id: the later (the one that stood) wins.
_DEFERRED: TransactionLocal[dict[UUID, tuple[Any, ...]]] = TransactionLocal("deferred_orders")

_COLUMNS = """order_id, cart_id, customer_id, currency, subtotal, shipping_fee, total,
              base_subtotal_usd, fx_rate, fx_source, fx_as_of, placed_at, snapshot"""


class OrderRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    def defer_adds(self) -> None:
        _DEFERRED.set(self._connection, {})

    async def add(self, placed: OrderPlaced, now: datetime) -> None:
        row = (
            placed.order_id,
            placed.cart_id,
            placed.customer_id,
            placed.currency.value,
            placed.subtotal.amount,
            placed.shipping_fee.amount,
            placed.total.amount,
            placed.base_subtotal.amount,
            placed.fx.rate,
            placed.fx.source,
            placed.fx.as_of,
            now,
            stored_snapshot(placed),
        )
        deferred = _DEFERRED.get(self._connection)
        if deferred is not None:
            deferred[placed.order_id] = row
            return
        # A cart becomes one order (it is locked and checked out in the same transaction);
        # the conflict clause only keeps a replay from failing.
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.orders ({_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT DO NOTHING
            """,
            *row,
        )

    async def write_pending(self) -> None:
        deferred = _DEFERRED.get(self._connection)
        if not deferred:
            return
        rows = list(deferred.values())
        deferred.clear()
        # One pipelined round trip for all, after the batch's carts are written; each order
        # only if its cart became it: a checkout dead-lettered after it added its order leaves
        # the cart open, and that order must not be stored.
        await self._connection.executemany(
            f"""
            INSERT INTO {self._schema}.orders ({_COLUMNS})
            SELECT $1::uuid, $2::text, $3::text, $4::text, $5::numeric, $6::numeric,
                   $7::numeric, $8::numeric, $9::numeric, $10::text, $11::timestamptz,
                   $12::timestamptz, $13::jsonb
            WHERE EXISTS (SELECT 1 FROM {self._schema}.carts AS c
                          WHERE c.cart_id = $2 AND c.order_id = $1)
            ON CONFLICT DO NOTHING
            """,
            rows,
        )

    async def cancel(self, order_id: UUID, reason: str, at: datetime) -> bool:
        """Mark the order cancelled; False if it is unknown here or already cancelled."""
        cancelled = await self._connection.fetchval(
            f"""
            UPDATE {self._schema}.orders SET cancelled_at = $3, cancel_reason = $2
            WHERE order_id = $1 AND cancelled_at IS NULL
            RETURNING true
            """,
            order_id,
            reason,
            at,
        )
        return bool(cancelled)

    async def cancellation_reason(self, order_id: UUID) -> str | None:
        reason: str | None = await self._connection.fetchval(
            f"""
            SELECT cancel_reason FROM {self._schema}.orders WHERE order_id = $1 FOR SHARE
            """,
            order_id,
        )
        return reason

    async def snapshot_for_cart(self, cart_id: str) -> dict[str, Any] | None:
        document = await self._connection.fetchval(
            f"SELECT snapshot FROM {self._schema}.orders WHERE cart_id = $1", cart_id
        )
        return document if isinstance(document, dict) else None

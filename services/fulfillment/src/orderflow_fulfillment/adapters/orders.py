"""Orders as fulfillment knows them, and their lines, in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.read_marks import stored_positions
from orderflow_contracts.events import PostalAddress

from orderflow_fulfillment.adapters.line_arrays import line_columns
from orderflow_fulfillment.domain.shipments import OrderStatus
from orderflow_fulfillment.ports import NamedLine, OrderRecord


def _address(value: Any) -> PostalAddress | None:
    return PostalAddress.model_validate(value) if value is not None else None


ORDER_COLUMNS = (
    "order_id, status, ship_to, shipping_service, correlation_id, expires_at, release_reason"
)
"""What :class:`~orderflow_fulfillment.ports.OrderRecord` is read from."""


def order_record(row: asyncpg.Record) -> OrderRecord:
    return OrderRecord(
        order_id=row["order_id"],
        status=OrderStatus(row["status"]),
        ship_to=_address(row["ship_to"]),
        shipping_service=row["shipping_service"],
        correlation_id=row["correlation_id"],
        expires_at=row["expires_at"],
        release_reason=row["release_reason"],
    )


# The orders a batch's lock_ahead locked, as it read them in the same statement: handed out by
# ``lock_order`` for the rest of the transaction without a query. No other transaction can
# change a locked row, and every write of one here drops its entry first, so a write undone
# with its record's savepoint is never handed out either. An order that did not exist then is
# not kept: another transaction may have placed it since, which only a query sees.
_LOCKED: TransactionLocal[dict[uuid.UUID, OrderRecord]] = TransactionLocal("orders_locked")


def keep_locked_orders(connection: Connection, rows: list[asyncpg.Record]) -> None:
    """Keep the orders a lock_ahead read and locked (see ``_LOCKED``)."""
    _LOCKED.set(connection, {row["order_id"]: order_record(row) for row in rows})


class OrderRepository:
    """The :class:`~orderflow_fulfillment.ports.Orders` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    async def lock_order(self, order_id: uuid.UUID, *, lock: bool = True) -> OrderRecord | None:
        """The order, row-locked until the transaction ends (``lock=False`` for reads)."""
        locked = _LOCKED.get(self._db)
        if locked is not None and order_id in locked:
            return locked[order_id]  # frozen: nothing the caller does can change the entry
        row = await self._db.fetchrow(
            f"""
            SELECT {ORDER_COLUMNS}
            FROM {self._s}.orders WHERE order_id = $1 {"FOR UPDATE" if lock else ""}
            """,
            order_id,
        )
        return None if row is None else order_record(row)

    def _forget(self, order_id: uuid.UUID) -> None:
        locked = _LOCKED.get(self._db)
        if locked is not None:
            locked.pop(order_id, None)

    async def insert_order(
        self,
        order_id: uuid.UUID,
        *,
        status: OrderStatus,
        ship_to: PostalAddress | None,
        shipping_service: str | None,
        correlation_id: str,
        lines: Sequence[NamedLine] = (),
        reserved_at: datetime | None = None,
        expires_at: datetime | None = None,
        released_at: datetime | None = None,
        release_reason: str | None = None,
    ) -> bool:
        """Insert the order; False if it exists already (another event got there first)."""
        self._forget(order_id)
        # One round trip: the order and, only if it is new, its lines.
        inserted = await self._db.fetchval(
            f"""
            WITH inserted AS (
                INSERT INTO {self._s}.orders (order_id, status, ship_to, shipping_service,
                    correlation_id, reserved_at, expires_at, released_at, release_reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (order_id) DO NOTHING RETURNING order_id
            ), lines AS (
                INSERT INTO {self._s}.order_lines (order_id, sku, name, quantity)
                SELECT inserted.order_id, l.sku, l.name, l.quantity
                FROM inserted,
                     unnest($10::text[], $11::text[], $12::int[]) AS l(sku, name, quantity)
            )
            SELECT count(*) > 0 FROM inserted
            """,
            order_id,
            status.value,
            ship_to.model_dump(mode="json") if ship_to is not None else None,
            shipping_service,
            correlation_id,
            reserved_at,
            expires_at,
            released_at,
            release_reason,
            *line_columns(lines),
        )
        return bool(inserted)

    async def place_released(
        self,
        order_id: uuid.UUID,
        *,
        ship_to: PostalAddress,
        shipping_service: str,
        lines: Sequence[NamedLine],
    ) -> str | None:
        # An outcome read first inserts the order without an address; the first OrderPlaced
        # fills it in, so a redelivered one (new event id) finds it placed.
        self._forget(order_id)
        reason: str | None = await self._db.fetchval(
            f"""
            UPDATE {self._s}.orders
            SET ship_to = $2, shipping_service = $3, updated_at = now()
            WHERE order_id = $1 AND status = 'released' AND ship_to IS NULL
            RETURNING release_reason
            """,
            order_id,
            ship_to.model_dump(mode="json"),
            shipping_service,
        )
        if reason is not None:
            await self._insert_lines(order_id, lines)
        return reason

    async def _insert_lines(self, order_id: uuid.UUID, lines: Sequence[NamedLine]) -> None:
        if lines:
            await self._db.execute(
                f"""
                INSERT INTO {self._s}.order_lines (order_id, sku, name, quantity)
                SELECT $1, l.sku, l.name, l.quantity
                FROM unnest($2::text[], $3::text[], $4::int[]) AS l(sku, name, quantity)
                """,
                order_id,
                *line_columns(lines),
            )

    async def update_order(
        self,
        order_id: uuid.UUID,
        status: OrderStatus,
        *,
        released_at: datetime | None = None,
        release_reason: str | None = None,
        captured_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> None:
        self._forget(order_id)
        await self._db.execute(
            f"""
            UPDATE {self._s}.orders
            SET status = $2,
                released_at = coalesce($3, released_at),
                release_reason = coalesce($4, release_reason),
                captured_at = coalesce($5, captured_at),
                completed_at = coalesce($6, completed_at),
                updated_at = now()
            WHERE order_id = $1
            """,
            order_id,
            status.value,
            released_at,
            release_reason,
            captured_at,
            completed_at,
        )

    async def order_lines(self, order_id: uuid.UUID) -> list[NamedLine]:
        rows = await self._db.fetch(
            f"""
            SELECT sku, name, quantity FROM {self._s}.order_lines WHERE order_id = $1
            ORDER BY sku
            """,
            order_id,
        )
        return [NamedLine(r["sku"], r["name"], r["quantity"]) for r in rows]

    async def line_names(self, order_id: uuid.UUID) -> dict[str, str]:
        return {line.sku: line.name for line in await self.order_lines(order_id)}

    async def expired_reservations(
        self, now: datetime, limit: int, *, skipping: Sequence[uuid.UUID] = ()
    ) -> list[uuid.UUID]:
        """Reserved orders past their expiry, oldest first, locked; rows another transaction
        holds are skipped (it is deciding their fate right now), and so are ``skipping``."""
        rows = await self._db.fetch(
            f"""
            SELECT order_id FROM {self._s}.orders
            WHERE status = 'reserved' AND expires_at <= $1 AND order_id <> ALL($3::uuid[])
            ORDER BY expires_at LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
            list(skipping),
        )
        return [r["order_id"] for r in rows]

    async def read_positions(self, consumer: str) -> Mapping[str, int]:
        return await stored_positions(self._db, self._s, consumer)

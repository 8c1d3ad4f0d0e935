"""SQL for the facts learnt from other services: orders, deliveries and captures."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_contracts.events import OrderPlaced, PostalAddress
from orderflow_contracts.money import Currency, Money

from orderflow_returns.adapters._sql import SqlRepository
from orderflow_returns.domain.refunds import OrderSnapshot, PaidLine
from orderflow_returns.domain.returns import Delivery

# The orders whose lock a transaction holds already (``lock_all``, the batch's ``lock_ahead``):
# each handler's ``lock`` of one of them then costs no round trip. Keyed on the transaction.
_HELD: TransactionLocal[frozenset[uuid.UUID]] = TransactionLocal("returns_orders_locked")


@dataclass
class QuietOrders:
    """Of the orders a transaction locked up front, those with no held request and those with
    no received RMA: read by one statement the first time a handler asks, for the rest of the
    transaction. An order's fact (its ``OrderPlaced``, a delivery) releases its held requests
    and prices its received RMAs, and almost every order has neither: each cost a round trip
    per fact. Only ever narrowed: a request held here takes its order out, a parcel received
    or an RMA's state set empties the second set (rare, and safe whatever a savepoint undoes).
    """

    without_held_requests: set[uuid.UUID]
    without_received_rmas: set[uuid.UUID]


_QUIET: TransactionLocal[QuietOrders] = TransactionLocal("returns_quiet_orders")


async def quiet_orders(connection: Connection, schema: str) -> QuietOrders | None:
    """The transaction's :class:`QuietOrders`, read now if not yet (None without ``lock_all``:
    a job's transaction, which asks for one order at a time)."""
    quiet = _QUIET.get(connection)
    if quiet is not None:
        return quiet
    locked = _HELD.get(connection)
    if not locked:
        return None
    # After the locks: every writer of held requests and RMAs holds its order's lock.
    rows = await connection.fetch(
        f"""
        SELECT o.order_id,
               EXISTS (SELECT 1 FROM {schema}.held_requests AS h
                       WHERE h.order_id = o.order_id) AS held,
               EXISTS (SELECT 1 FROM {schema}.rmas AS r
                       WHERE r.order_id = o.order_id AND r.state = 'received') AS received
        FROM unnest($1::uuid[]) AS o(order_id)
        """,
        list(locked),
    )
    quiet = QuietOrders(
        {row["order_id"] for row in rows if not row["held"]},
        {row["order_id"] for row in rows if not row["received"]},
    )
    _QUIET.set(connection, quiet)
    return quiet


def known_quiet(connection: Connection) -> QuietOrders | None:
    """The transaction's :class:`QuietOrders` if read already (for writers to narrow)."""
    return _QUIET.get(connection)


class SqlOrders(SqlRepository):
    async def lock(self, order_id: uuid.UUID) -> None:
        # Several consumers, topics or instances may touch one order at once; released at
        # commit.
        held = _HELD.get(self.connection)
        if held is not None and order_id in held:
            return
        await self.connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"returns:order:{order_id}"
        )

    async def lock_all(self, order_ids: Iterable[uuid.UUID]) -> None:
        # Sorted by lock key: two batches meeting the same orders in crossing orders queue
        # instead of deadlocking. (The subquery's ORDER BY is kept: it has DISTINCT, and the
        # outer call is volatile.)
        wanted = frozenset(order_ids)
        if not wanted:
            return
        await self.connection.execute(
            """
            SELECT count(pg_advisory_xact_lock(key))
            FROM (SELECT DISTINCT hashtextextended('returns:order:' || o, 0) AS key
                  FROM unnest($1::text[]) AS o ORDER BY key) AS keys
            """,
            [str(order_id) for order_id in wanted],
        )
        _HELD.set(self.connection, wanted)

    async def record_order(self, event: OrderPlaced, placed_at: datetime) -> bool:
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
        lines = list(merged.values())
        # One round trip: the order and, only if it is new, its lines.
        inserted = await self.connection.fetchval(
            f"""
            WITH inserted AS (
                INSERT INTO {self.s}.orders (order_id, customer_id, currency, subtotal,
                    shipping_fee, total, ship_to, placed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (order_id) DO NOTHING
                RETURNING order_id
            ), lines AS (
                INSERT INTO {self.s}.order_lines
                    (order_id, sku, name, quantity, unit_price, line_total)
                SELECT inserted.order_id, l.*
                FROM inserted, unnest($9::text[], $10::text[], $11::int[], $12::numeric[],
                                      $13::numeric[]) AS l
            )
            SELECT count(*) > 0 FROM inserted
            """,
            event.order_id,
            event.customer_id,
            event.currency.value,
            event.subtotal.amount,
            event.shipping_fee.amount,
            event.total.amount,
            event.ship_to.model_dump(mode="json"),
            placed_at,
            list(merged),
            [name for name, _, _, _ in lines],
            [quantity for _, quantity, _, _ in lines],
            [unit_price for _, _, unit_price, _ in lines],
            [total for _, _, _, total in lines],
        )
        return bool(inserted)

    async def record_delivery(
        self,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        lines: Sequence[tuple[str, int]],
        delivered_at: datetime,
        *,
        replacement: bool,
    ) -> bool:
        # One statement for every line; a line recorded before (the same report again) is
        # kept as it was.
        inserted = await self.connection.fetchval(
            f"""
            WITH added AS (
                INSERT INTO {self.s}.deliveries
                    (shipment_id, sku, order_id, quantity, delivered_at, replacement)
                SELECT $1, l.sku, $2, l.quantity, $3, $4
                FROM unnest($5::text[], $6::int[]) AS l(sku, quantity)
                ON CONFLICT (shipment_id, sku) DO NOTHING
                RETURNING 1
            )
            SELECT count(*) FROM added
            """,
            shipment_id,
            order_id,
            delivered_at,
            replacement,
            [sku for sku, _ in lines],
            [quantity for _, quantity in lines],
        )
        return bool(inserted)

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

    async def customer_of(self, order_id: uuid.UUID) -> str | None:
        customer: str | None = await self.connection.fetchval(
            f"SELECT customer_id FROM {self.s}.orders WHERE order_id = $1", order_id
        )
        return customer

    async def ordered_units(self, order_id: uuid.UUID) -> dict[str, int]:
        rows = await self.connection.fetch(
            f"SELECT sku, quantity FROM {self.s}.order_lines WHERE order_id = $1", order_id
        )
        return {row["sku"]: row["quantity"] for row in rows}

    async def deliveries(self, order_id: uuid.UUID) -> list[Delivery]:
        # Replacement shipments (warranty) are not units the customer paid for: never
        # returnable for money, never a new warranty unit.
        rows = await self.connection.fetch(
            f"""
            SELECT sku, quantity, delivered_at FROM {self.s}.deliveries
            WHERE order_id = $1 AND NOT replacement
            ORDER BY delivered_at, shipment_id
            """,
            order_id,
        )
        return [Delivery(r["sku"], r["quantity"], r["delivered_at"]) for r in rows]

    async def snapshot(self, order_id: uuid.UUID) -> OrderSnapshot | None:
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

    async def captured(self, order_id: uuid.UUID, currency: Currency) -> Money | None:
        captured = await self.connection.fetchval(
            f"""
            SELECT SUM(amount) FROM {self.s}.captures
            WHERE order_id = $1 AND currency = $2
            """,
            order_id,
            currency.value,
        )
        return Money.of(captured, currency) if captured is not None else None

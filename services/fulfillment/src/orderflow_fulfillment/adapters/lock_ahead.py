"""The locks a batch of fulfillment work takes up front, in one global order.

Order: the batch's order rows by ``order_id``, then every stock row of every SKU the work may
touch by ``(warehouse_id, sku)``. Each statement locks in its ``ORDER BY`` order (the lock is
taken on each row as the sort emits it), so two transactions that take their locks here never
wait for each other in a cycle: whoever takes the first common row first goes first, and the
other queues until it commits. A handler that later locks one of these rows again already
holds it.

The SKUs come from the events (an order's lines, a count, a return) and from what is stored
for the batch's orders (their lines and their shipments' lines): an outcome of payment names
no SKU, but releasing or re-reserving its order touches that order's stock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from orderflow_chassis.database import Connection


class SqlLockAhead:
    """The :class:`~orderflow_fulfillment.ports.LockAhead` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    async def lock_ahead(
        self,
        *,
        order_ids: Iterable[uuid.UUID] = (),
        shipment_ids: Iterable[uuid.UUID] = (),
        rma_ids: Iterable[uuid.UUID] = (),
        skus: Iterable[str] = (),
    ) -> None:
        orders = await self._db.fetch(
            f"""
            SELECT order_id FROM {self._s}.orders
            WHERE order_id = ANY($1::uuid[])
               OR order_id IN (SELECT order_id FROM {self._s}.shipments
                               WHERE shipment_id = ANY($2::uuid[]))
               OR order_id IN (SELECT order_id FROM {self._s}.rmas WHERE rma_id = ANY($3::uuid[]))
            ORDER BY order_id
            FOR UPDATE
            """,
            sorted(set(order_ids)),
            sorted(set(shipment_ids)),
            sorted(set(rma_ids)),
        )
        locked_orders = [r["order_id"] for r in orders]
        await self._db.execute(
            f"""
            SELECT 1 FROM {self._s}.stock
            WHERE sku IN (
                SELECT unnest($1::text[])
                UNION SELECT sku FROM {self._s}.order_lines WHERE order_id = ANY($2::uuid[])
                UNION SELECT l.sku FROM {self._s}.shipment_lines l
                      JOIN {self._s}.shipments s USING (shipment_id)
                      WHERE s.order_id = ANY($2::uuid[]) OR s.shipment_id = ANY($3::uuid[])
            )
            ORDER BY warehouse_id, sku
            FOR UPDATE
            """,
            sorted(set(skus)),
            locked_orders,
            sorted(set(shipment_ids)),
        )

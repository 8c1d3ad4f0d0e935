"""The locks a batch of fulfillment work takes up front, in one global order.

Order: the batch's order rows by ``order_id``, then the stock rows of every SKU the work will
move, by ``(warehouse_id, sku)``. Each statement locks in its ``ORDER BY`` order (the lock is
taken on each row as the sort emits it), so two transactions that take their locks here never
wait for each other in a cycle: whoever takes the first common row first goes first, and the
other queues until it commits. A handler that later locks one of these rows again already
holds it.

Only stock that will move is locked (all warehouses of each SKU: the plan is not made yet), so
batches that merely pass an order along do not queue behind reservations. The SKUs come from
the events (an order's lines, a count, a return) or a stock file (a load, the start-up seed
included), and from what is stored, judged under the order locks just taken: the lines of an
order whose reservation a cancellation or a failed payment releases (one still ``reserved``),
and the lines of a shipment a warehouse report dispatches (one not dispatched yet). A capture
moves no stock (decision 58): it locks its order only.

The orders are read as they are locked, and handed out by ``lock_order`` for the rest of the
transaction without a query (see :mod:`~orderflow_fulfillment.adapters.orders`); with
``read_shipments``, so are their shipments, by ``shipments_of`` and ``lock_shipment``
(:mod:`~orderflow_fulfillment.adapters.shipments`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from orderflow_chassis.database import Connection

from orderflow_fulfillment.adapters.orders import ORDER_COLUMNS, keep_locked_orders
from orderflow_fulfillment.adapters.shipments import keep_shipments_of


class SqlLockAhead:
    """The :class:`~orderflow_fulfillment.ports.LockAhead` of one transaction."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self._db = connection
        self._s = schema

    async def lock_ahead(
        self,
        *,
        orders: Iterable[uuid.UUID] = (),
        releasing: Iterable[uuid.UUID] = (),
        shipments: Iterable[uuid.UUID] = (),
        rmas: Iterable[uuid.UUID] = (),
        skus: Iterable[str] = (),
        read_shipments: bool = False,
    ) -> None:
        releasing = sorted(set(releasing))
        shipment_ids = sorted(set(shipments))
        locked = await self._db.fetch(
            f"""
            SELECT {ORDER_COLUMNS} FROM {self._s}.orders
            WHERE order_id = ANY($1::uuid[])
               OR order_id IN (SELECT order_id FROM {self._s}.shipments
                               WHERE shipment_id = ANY($2::uuid[]))
               OR order_id IN (SELECT order_id FROM {self._s}.rmas WHERE rma_id = ANY($3::uuid[]))
            ORDER BY order_id
            FOR UPDATE
            """,
            sorted({*orders, *releasing}),
            shipment_ids,
            sorted(set(rmas)),
        )
        keep_locked_orders(self._db, locked)
        if read_shipments and locked:
            await keep_shipments_of(self._db, self._s, [row["order_id"] for row in locked])
        await self._db.execute(
            f"""
            SELECT 1 FROM {self._s}.stock
            WHERE sku IN (
                SELECT unnest($1::text[])
                UNION SELECT l.sku FROM {self._s}.order_lines l
                      JOIN {self._s}.orders o USING (order_id)
                      WHERE o.order_id = ANY($2::uuid[]) AND o.status = 'reserved'
                UNION SELECT l.sku FROM {self._s}.shipment_lines l
                      JOIN {self._s}.shipments s USING (shipment_id)
                      WHERE s.shipment_id = ANY($3::uuid[])
                        AND s.status NOT IN ('dispatched', 'delivered')
            )
            ORDER BY warehouse_id, sku
            FOR UPDATE
            """,
            sorted(set(skus)),
            releasing,
            shipment_ids,
        )

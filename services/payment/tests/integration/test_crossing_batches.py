"""Two payment instances apply crossing batches at once — A reads the cancellations of orders
1 and 2, B the released reservations of orders 2 and 1 (another topic) — and neither deadlocks
on the per-order lock; every fact is recorded.

Before the batch took its per-order locks up front, sorted (``handlers/lock_ahead.py``), each
use case took its order's lock when its record came up and kept it to the batch's commit: this
test then failed with a ``DeadlockDetectedError`` from one of the batches.
"""

from __future__ import annotations

import uuid

import pytest
from orderflow_contracts import topics
from orderflow_localinfra.discovery import Infrastructure

from services.payment.tests.builders import envelope, order_cancelled, reservation_released
from services.payment.tests.harness import payment_service
from tests.support.crossing_batches import apply_crossing, records

pytestmark = pytest.mark.integration


async def test_crossing_batches_queue_instead_of_deadlocking(
    orderflow_infrastructure: Infrastructure,
) -> None:
    order_1, order_2 = uuid.uuid4(), uuid.uuid4()
    async with payment_service(orderflow_infrastructure) as run:
        outcomes = await apply_crossing(
            run.runtime,
            records(
                run.prefix + topics.ORDERS,
                0,
                [envelope(order_cancelled(order_1)), envelope(order_cancelled(order_2))],
            ),
            records(
                run.prefix + topics.FULFILLMENT,
                0,
                [envelope(reservation_released(order_2)), envelope(reservation_released(order_1))],
            ),
        )

        assert outcomes == [None, None]
        facts = await run.pool.fetch(
            """
            SELECT order_id, stock_status, cancelled_reason FROM payment.order_facts
            WHERE order_id = ANY($1::uuid[])
            """,
            [order_1, order_2],
        )
        assert {(r["order_id"], r["stock_status"], r["cancelled_reason"]) for r in facts} == {
            (order_1, "released", "customer_requested"),
            (order_2, "released", "customer_requested"),
        }

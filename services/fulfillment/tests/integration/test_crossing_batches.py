"""Two fulfillment instances apply crossing batches (A: SKU1 then SKU2, B: SKU2 then SKU1) at
once: neither deadlocks, and every order holds exactly its stock.

Before the batch took its locks up front (``handlers/lock_ahead.py``), each reservation locked
its stock row when its record came up and kept it to the batch's commit: this test then failed
with a ``DeadlockDetectedError`` from one of the batches.
"""

from __future__ import annotations

import uuid

import pytest
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope

from services.fulfillment.tests.builders import order_cancelled
from services.fulfillment.tests.integration.flow import SCHEMA, Flow, new_sku, order_placed
from tests.support.crossing_batches import apply_crossing, records

pytestmark = pytest.mark.integration


def placed(sku: str) -> tuple[uuid.UUID, Envelope]:
    order_id = uuid.uuid4()
    event = order_placed(order_id, {sku: 1}, "DE")
    return order_id, Envelope.wrap(event, producer="cart", correlation_id=f"cross-{order_id}")


async def test_crossing_batches_queue_instead_of_deadlocking(flow: Flow) -> None:
    sku1, sku2 = new_sku("CROSS1"), new_sku("CROSS2")
    warehouse = await flow.warehouse("CROSS", "DE", {sku1: 10, sku2: 10})
    a1, a2, b1, b2 = placed(sku1), placed(sku2), placed(sku2), placed(sku1)
    topic = flow.prefix + topics.ORDERS

    outcomes = await apply_crossing(
        flow.runtime,
        records(topic, 0, [a1[1], a2[1]]),
        records(topic, 1, [b1[1], b2[1]]),
    )

    assert outcomes == [None, None]
    assert await flow.level(warehouse, sku1) == (10, 2)
    assert await flow.level(warehouse, sku2) == (10, 2)
    order_ids = [a1[0], a2[0], b1[0], b2[0]]
    statuses = await flow.runtime.pool.fetch(
        f"SELECT status FROM {SCHEMA}.orders WHERE order_id = ANY($1::uuid[])", order_ids
    )
    assert sorted(r["status"] for r in statuses) == ["reserved"] * 4
    reserved = await flow.runtime.pool.fetchval(
        f"""
        SELECT count(*) FROM {SCHEMA}.outbox
        WHERE event_type = 'StockReserved' AND message_key = ANY($1::text[])
        """,
        [str(o) for o in order_ids],
    )
    assert reserved == 4


def cancelled(order_id: uuid.UUID) -> Envelope:
    return Envelope.wrap(order_cancelled(order_id), producer="cart", correlation_id="cross")


async def test_releases_found_in_the_database_queue_too(flow: Flow) -> None:
    """A cancellation names no SKU: the stock it gives back is the order's, as stored."""
    sku1, sku2 = new_sku("HELD1"), new_sku("HELD2")
    warehouse = await flow.warehouse("HELD", "DE", {sku1: 10, sku2: 10})
    held1, held2, a2, b2 = placed(sku1), placed(sku2), placed(sku2), placed(sku1)
    topic = flow.prefix + topics.ORDERS
    setup = await apply_crossing(
        flow.runtime, records(topic, 0, [held1[1]]), records(topic, 1, [held2[1]])
    )
    assert setup == [None, None]

    outcomes = await apply_crossing(
        flow.runtime,
        records(topic, 0, [cancelled(held1[0]), a2[1]]),  # gives SKU1 back, then takes SKU2
        records(topic, 1, [cancelled(held2[0]), b2[1]]),  # gives SKU2 back, then takes SKU1
    )

    assert outcomes == [None, None]
    assert await flow.level(warehouse, sku1) == (10, 1)
    assert await flow.level(warehouse, sku2) == (10, 1)

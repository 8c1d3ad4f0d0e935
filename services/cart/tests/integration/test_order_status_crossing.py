"""Two cart instances apply order-status batches about the same orders in crossing orders —
A reads the placements of orders 1 and 2, B the authorisations of orders 2 and 1 (another
topic) — and neither deadlocks; both orders end with both facts applied (version 2).

An order's events arrive on five topics, whose partitions the group spreads over its
instances, so two instances do apply batches about the same orders. Before the batch locked
its orders up front, sorted (``order_status.handlers.lock_batch``), each record took its order's
row (or inserted it) when it came up: this test then failed with a ``DeadlockDetectedError``
from one of the batches (seen as 3 deadlocks in a run of the multi-instance test).
"""

from __future__ import annotations

import pytest
from orderflow_contracts import topics

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.order_events import OrderJourney, envelopes
from tests.support.crossing_batches import apply_crossing, records

pytestmark = pytest.mark.integration


async def test_crossing_order_status_batches_queue_instead_of_deadlocking(
    cart_service: RunningCart,
) -> None:
    first, second = OrderJourney("crossing-1"), OrderJourney("crossing-2")
    prefix = cart_service.prefix
    outcomes = await apply_crossing(
        cart_service.runtime,
        records(prefix + topics.ORDERS, 0, envelopes([first.placed(), second.placed()])),
        records(prefix + topics.PAYMENTS, 0, envelopes([second.authorized(), first.authorized()])),
        subscription="order-status",
    )

    assert outcomes == [None, None]
    rows = await cart_service.runtime.pool.fetch(
        "SELECT order_id, state, version FROM cart.order_status WHERE order_id = ANY($1::uuid[])",
        [first.order_id, second.order_id],
    )
    assert {(r["order_id"], r["state"], r["version"]) for r in rows} == {
        (first.order_id, "placed", 2),
        (second.order_id, "placed", 2),
    }

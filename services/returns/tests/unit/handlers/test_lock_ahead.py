"""The batch's ``lock_ahead`` locks every order its events name, each once, sorted; an event
that names no order (a returned parcel names its RMA) adds none."""

from __future__ import annotations

import uuid

from orderflow_returns.handlers.lock_ahead import lock_batch

from services.returns.tests.unit.handlers.scenario import Order, Returns


async def test_every_order_a_batch_names_is_locked_once_in_one_order() -> None:
    returns = Returns()
    first, second = Order(), Order()
    events = [
        second.placed(),
        first.placed(),
        second.captured(),
        Order.parcel(uuid.uuid4(), [("SKU-1", 1, "resellable")]),
    ]
    await lock_batch(events, returns.transactions.unit())
    assert returns.tables.locked_orders == sorted({first.order_id, second.order_id})

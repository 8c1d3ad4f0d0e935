"""What ops read about RMAs: filters, most recently changed first, one RMA by id."""

from __future__ import annotations

import uuid

from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.parcels import receive_return_parcel
from orderflow_returns.handlers.queries import find_rma, list_rmas
from orderflow_returns.handlers.refunds import settle_refund_failed
from orderflow_returns.ports import RmaQuery

from services.returns.tests.unit.handlers.scenario import BALL, SPLINT, Order, Returns


async def three_rmas(returns: Returns, order: Order) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Three RMAs of ``order``: one still authorised, one closed, one whose refund failed (the
    last to change)."""
    await returns.know(order)
    waiting = await returns.authorise(order, [(BALL, 1)])
    empty = await returns.authorise(order, [(BALL, 1)])
    await returns.apply(receive_return_parcel, Order.parcel(empty, [(SPLINT, 1, "resellable")]))
    failed = await returns.authorise(order, [(SPLINT, 1)])
    await returns.apply(receive_return_parcel, Order.parcel(failed, [(SPLINT, 1, "resellable")]))
    refund_id = returns.tables.rmas[failed].current_refund_id
    assert refund_id is not None
    await returns.apply(
        settle_refund_failed, order.refund_failed(refund_id, "36.94", "provider_refused")
    )
    return waiting, empty, failed


async def test_rmas_are_listed_most_recently_changed_first_and_filtered() -> None:
    returns = Returns()
    order = Order()
    waiting, closed, failed = await three_rmas(returns, order)
    await returns.know(Order())  # another order's facts, no RMA

    async with returns.transactions.begin(read_only=True) as uow:
        everything = await list_rmas(RmaQuery(order_id=order.order_id), uow)
        for_ops = await list_rmas(RmaQuery(state=RmaState.REFUND_FAILED), uow)
        newest = await list_rmas(RmaQuery(limit=1), uow)
        elsewhere = await list_rmas(RmaQuery(order_id=uuid.uuid4()), uow)

    assert [row["rma_id"] for row in everything] == [str(failed), str(closed), str(waiting)]
    assert [(row["rma_id"], row["problem_code"]) for row in for_ops] == [
        (str(failed), "provider_refused")
    ]
    assert [row["rma_id"] for row in newest] == [str(failed)]
    assert elsewhere == []


async def test_one_rma_with_its_lines_and_refund() -> None:
    returns = Returns()
    order = Order()
    _, _, failed = await three_rmas(returns, order)

    async with returns.transactions.begin(read_only=True) as uow:
        found = await find_rma(failed, uow)
        missing = await find_rma(uuid.uuid4(), uow)

    assert found is not None
    assert (found["state"], found["refund_amount"], found["refund_attempts"]) == (
        "refund_failed",
        "36.94",
        1,
    )
    assert found["lines"] == [
        {"sku": SPLINT, "authorised": 1, "received": 1, "damaged": 0, "returned": 1,
         "refund_amount": "36.94"},
    ]  # fmt: skip
    assert missing is None

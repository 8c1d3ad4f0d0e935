"""One refund id is served one request at a time, whatever order each request names: two
orders' locks did not serialise a refund id sent for both, and each called the provider under
its key before either was recorded (review, helper 118)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from orderflow_chassis.database import connect
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.payments import SqlPayments
from orderflow_payment.adapters.refunds import SqlRefunds

from services.payment.tests.integration.test_ledger_store import migrated_payment_schema

pytestmark = pytest.mark.integration


async def test_a_refund_id_is_locked_across_orders(
    orderflow_infrastructure: Infrastructure,
) -> None:
    first = await migrated_payment_schema(orderflow_infrastructure)
    second = await connect(
        orderflow_infrastructure.service_database_urls["payment"], schema="payment"
    )
    refund_id = uuid.uuid4()
    try:
        later = second.transaction()
        async with first.transaction():
            await SqlPayments(first, "payment").lock_order(uuid.uuid4())
            await SqlRefunds(first, "payment").lock(refund_id)
            await later.start()
            await SqlPayments(second, "payment").lock_order(uuid.uuid4())  # another order
            waiting = asyncio.ensure_future(SqlRefunds(second, "payment").lock(refund_id))
            done, _ = await asyncio.wait([waiting], timeout=0.5)
            assert not done, "the second request waits for the first one's transaction"
        async with asyncio.timeout(5):
            await waiting  # the first committed: the second goes on
        await SqlRefunds(second, "payment").lock(uuid.uuid4())  # another id: no wait
        await later.rollback()
    finally:
        await first.close()
        await second.close()


async def test_a_batch_locks_its_refund_ids_up_front_and_each_refund_again(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # Review (helper 119): refund locks taken event by event could deadlock two batches that
    # met one refund id (sent for two orders) in crossing orders. A batch takes them first,
    # sorted; each refund's own lock is then taken again by the same session without waiting.
    first = await migrated_payment_schema(orderflow_infrastructure)
    second = await connect(
        orderflow_infrastructure.service_database_urls["payment"], schema="payment"
    )
    refunds = [uuid.uuid4(), uuid.uuid4()]
    try:
        later = second.transaction()
        async with first.transaction():
            await SqlRefunds(first, "payment").lock_all(refunds)
            async with asyncio.timeout(5):
                await SqlRefunds(first, "payment").lock(refunds[1])  # re-entrant
            await later.start()
            waiting = asyncio.ensure_future(SqlRefunds(second, "payment").lock_all(refunds[::-1]))
            done, _ = await asyncio.wait([waiting], timeout=0.5)
            assert not done, "another batch meeting those ids waits"
        async with asyncio.timeout(5):
            await waiting
        await later.rollback()
    finally:
        await first.close()
        await second.close()

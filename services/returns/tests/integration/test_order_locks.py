"""A batch's orders are locked up front (its ``lock_ahead``): the locks are real, and a
handler's lock of an order the batch holds costs no statement."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from orderflow_chassis.database import connect
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.adapters.orders import SqlOrders

pytestmark = pytest.mark.integration


async def returns_connection(infrastructure: Infrastructure) -> asyncpg.Connection:
    return await connect(infrastructure.service_database_urls["returns"], schema="returns")


async def test_a_lock_the_batch_took_costs_no_statement_in_its_handlers(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await returns_connection(orderflow_infrastructure)
    held, other = uuid.uuid4(), uuid.uuid4()
    sent: list[str] = []
    try:
        async with connection.transaction():
            await SqlOrders(connection, "returns").lock_all([held])
            connection.add_query_logger(lambda record: sent.append(record.query))
            handlers_repository = SqlOrders(connection, "returns")  # one per record
            await handlers_repository.lock(held)
            await handlers_repository.lock(other)
            await asyncio.sleep(0)  # query loggers are called soon, not at once
        assert [query for query in sent if "advisory" in query] == [
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
        ], "only the order the batch did not lock"
        sent.clear()
        async with connection.transaction():  # a later transaction holds nothing
            await SqlOrders(connection, "returns").lock(held)
            await asyncio.sleep(0)
        assert any("advisory" in query for query in sent), sent
    finally:
        await connection.close()


async def test_the_batch_lock_is_the_lock_each_handler_takes(
    orderflow_infrastructure: Infrastructure,
) -> None:
    batch = await returns_connection(orderflow_infrastructure)
    handler = await returns_connection(orderflow_infrastructure)
    order_id = uuid.uuid4()
    try:
        async with batch.transaction():
            await SqlOrders(batch, "returns").lock_all([uuid.uuid4(), order_id, uuid.uuid4()])
            async with handler.transaction():
                await handler.execute("SET LOCAL lock_timeout = '200ms'")
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await SqlOrders(handler, "returns").lock(order_id)
        async with handler.transaction():  # released at the batch's commit
            await handler.execute("SET LOCAL lock_timeout = '2s'")
            await SqlOrders(handler, "returns").lock(order_id)
    finally:
        await batch.close()
        await handler.close()

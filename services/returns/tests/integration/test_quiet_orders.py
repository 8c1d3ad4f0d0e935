"""A batch asks once, after its locks, which of its orders have held requests or received RMAs
(almost none do); each fact's handler then skips the lookups for the others, and what the batch
itself holds or receives is still found."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.adapters.held_requests import SqlHeldRequests
from orderflow_returns.adapters.orders import SqlOrders
from orderflow_returns.adapters.rmas import SqlRmas
from orderflow_returns.bootstrap import build_definition
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.ports import HeldRequest

from tests.support.service_harness import service_settings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, tzinfo=UTC)


ORDERS: list[uuid.UUID] = []  # what the tests wrote rows for, removed after each


def new_order() -> uuid.UUID:
    ORDERS.append(uuid.uuid4())
    return ORDERS[-1]


@pytest.fixture
async def connection(orderflow_infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Connection]:
    settings = service_settings(orderflow_infrastructure, "returns", topic_prefix="")
    connection = await connect(settings.database_url, schema="returns")
    try:
        await migrate_service(connection, "returns", build_definition(settings).migrations)
        yield connection
    finally:
        await connection.execute(
            """
            DELETE FROM rma_lines WHERE rma_id IN (
                SELECT rma_id FROM rmas WHERE order_id = ANY($1::uuid[]));
            """,
            ORDERS,
        )
        await connection.execute("DELETE FROM rmas WHERE order_id = ANY($1::uuid[])", ORDERS)
        await connection.execute(
            "DELETE FROM held_requests WHERE order_id = ANY($1::uuid[])", ORDERS
        )
        ORDERS.clear()
        await connection.close()


def held_request(order_id: uuid.UUID, request_id: str) -> HeldRequest:
    return HeldRequest(order_id, "return", request_id, "{}", NOW + timedelta(minutes=5))


async def authorised_rma(rmas: SqlRmas, order_id: uuid.UUID) -> uuid.UUID:
    rma_id = uuid.uuid4()
    await rmas.create(
        rma_id=rma_id,
        order_id=order_id,
        request_id=f"ret-{rma_id}",
        correlation_id="quiet-orders",
        reason="changed_mind",
        lines=[("MB-SPIKY-8CM", 1)],
        authorised_at=NOW,
        return_by=date(2026, 12, 31),
    )
    return rma_id


async def received_rma(connection: asyncpg.Connection, order_id: uuid.UUID) -> uuid.UUID:
    rmas = SqlRmas(connection, "returns")
    async with connection.transaction():
        rma_id = await authorised_rma(rmas, order_id)
        await rmas.set_state(rma_id, RmaState.RECEIVED, at=NOW)
    return rma_id


async def test_the_batch_asks_once_and_finds_what_there_is(connection: asyncpg.Connection) -> None:
    with_request, with_rma, quiet = new_order(), new_order(), new_order()
    async with connection.transaction():
        await SqlHeldRequests(connection, "returns").hold(held_request(with_request, "ret-1"))
    rma_id = await received_rma(connection, with_rma)
    sent: list[str] = []
    async with connection.transaction():
        await SqlOrders(connection, "returns").lock_all([with_request, with_rma, quiet])
        connection.add_query_logger(lambda record: sent.append(record.query))
        held, rmas = SqlHeldRequests(connection, "returns"), SqlRmas(connection, "returns")
        assert await held.release(quiet) == []
        assert await rmas.in_state(quiet, RmaState.RECEIVED) == []
        assert await held.release(with_rma) == []
        assert await rmas.in_state(with_request, RmaState.RECEIVED) == []
        await asyncio.sleep(0)  # query loggers are called soon, not at once
        asked = [q for q in sent if "held_requests" in q or "rmas" in q]
        assert len(asked) == 1, asked  # the batch's one question
        assert [r.request_id for r in await held.release(with_request)] == ["ret-1"]
        assert await rmas.in_state(with_rma, RmaState.RECEIVED) == [rma_id]


async def test_what_the_batch_holds_or_receives_itself_is_found(
    connection: asyncpg.Connection,
) -> None:
    order_id = new_order()
    async with connection.transaction():
        await SqlOrders(connection, "returns").lock_all([order_id])
        held, rmas = SqlHeldRequests(connection, "returns"), SqlRmas(connection, "returns")
        assert await held.release(order_id) == []  # the question is asked here
        await held.hold(held_request(order_id, "ret-later"))
        assert [r.request_id for r in await held.release(order_id)] == ["ret-later"]

        rma_id = await authorised_rma(rmas, order_id)
        assert await rmas.in_state(order_id, RmaState.RECEIVED) == []
        await rmas.record_parcel(
            rma_id,
            warehouse_id="EU-1",
            received_at=NOW,
            received={"MB-SPIKY-8CM": 1},
            damaged={},
            authorised={"MB-SPIKY-8CM": 1},
        )
        assert await rmas.in_state(order_id, RmaState.RECEIVED) == [rma_id]


async def test_an_rma_state_set_in_the_batch_is_found(connection: asyncpg.Connection) -> None:
    order_id = new_order()
    rmas = SqlRmas(connection, "returns")
    async with connection.transaction():
        rma_id = await authorised_rma(rmas, order_id)
    async with connection.transaction():
        await SqlOrders(connection, "returns").lock_all([order_id])
        assert await rmas.in_state(order_id, RmaState.RECEIVED) == []  # asked here
        await rmas.set_state(rma_id, RmaState.RECEIVED, at=NOW)
        assert await rmas.in_state(order_id, RmaState.RECEIVED) == [rma_id]

"""A transaction reads the warehouses once, until it writes one. A batch's lock_ahead reads
the orders it locks, and its handlers' ``lock_order`` gets them without a query until the
batch writes them: what it wrote is read back from the database (so a write undone with a
record's savepoint is never handed out). An order that did not exist at the lock is always
read from the database: another transaction may have placed it since. So are the shipments
of the locked orders, when the batch asks for them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from orderflow_contracts.events import PostalAddress
from orderflow_fulfillment.adapters.lock_ahead import SqlLockAhead
from orderflow_fulfillment.adapters.orders import OrderRepository
from orderflow_fulfillment.adapters.shipments import ShipmentRepository
from orderflow_fulfillment.adapters.stock import StockRepository
from orderflow_fulfillment.domain.shipments import OrderStatus, ShipmentStatus
from orderflow_fulfillment.domain.stock_file import WarehouseEntry
from orderflow_fulfillment.ports import NamedLine

from services.fulfillment.tests.integration.flow import SCHEMA, Flow

pytestmark = pytest.mark.integration

ADDRESS = PostalAddress(
    recipient_name="Ada", line1="1 Main St", city="Berlin", postal_code="10115", country="DE"
)


async def test_a_batch_reads_its_locked_orders_once_and_reads_its_own_writes_back(
    flow: Flow,
) -> None:
    placed, absent = uuid.uuid4(), uuid.uuid4()
    sent: list[str] = []

    def logged(record: Any) -> None:
        sent.append(record.query)

    async with flow.runtime.pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            await OrderRepository(connection, SCHEMA).insert_order(
                placed,
                status=OrderStatus.RESERVED,
                ship_to=ADDRESS,
                shipping_service="standard",
                correlation_id="batch-reads",
            )
            await SqlLockAhead(connection, SCHEMA).lock_ahead(orders=[placed, absent])

            connection.add_query_logger(logged)
            orders = OrderRepository(connection, SCHEMA)  # a handler's, one per record
            handed = await orders.lock_order(placed)
            assert handed is not None
            assert (handed.status, handed.ship_to) == (OrderStatus.RESERVED, ADDRESS)
            assert await orders.lock_order(placed) == handed
            await asyncio.sleep(0)  # query loggers are called soon, not at once
            assert sent == [], "the locked order came from the batch's read"

            assert await orders.lock_order(absent) is None
            await asyncio.sleep(0)
            assert len(sent) == 1, "an order missing at the lock is asked for again"

            await orders.update_order(placed, OrderStatus.RELEASED, release_reason="test")
            stored = await orders.lock_order(placed)
            assert stored is not None
            assert (stored.status, stored.release_reason) == (OrderStatus.RELEASED, "test")
        finally:
            connection.remove_query_logger(logged)
            await transaction.rollback()


async def test_a_transaction_reads_the_warehouses_once_until_it_writes_one(flow: Flow) -> None:
    sent: list[str] = []

    def logged(record: Any) -> None:
        sent.append(record.query)

    async with flow.runtime.pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            connection.add_query_logger(logged)
            first = await StockRepository(connection, SCHEMA).warehouses()
            again = await StockRepository(connection, SCHEMA).warehouses()  # the next record's
            await asyncio.sleep(0)  # query loggers are called soon, not at once
            assert again == first
            assert len(sent) == 1, sent

            added = WarehouseEntry(id="BATCH-READS", name="Batch reads", country="DE")
            await StockRepository(connection, SCHEMA).upsert_warehouse(added)
            after = await StockRepository(connection, SCHEMA).warehouses()
            assert "BATCH-READS" in {w.warehouse_id for w in after}
            assert "BATCH-READS" not in {w.warehouse_id for w in first}
        finally:
            connection.remove_query_logger(logged)
            await transaction.rollback()


async def test_a_batch_reads_the_shipments_of_its_locked_orders_once(flow: Flow) -> None:
    order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
    sent: list[str] = []

    def logged(record: Any) -> None:
        sent.append(record.query)

    async with flow.runtime.pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            await OrderRepository(connection, SCHEMA).insert_order(
                order_id,
                status=OrderStatus.FULFILLING,
                ship_to=ADDRESS,
                shipping_service="standard",
                correlation_id="batch-reads",
            )
            warehouse = (await StockRepository(connection, SCHEMA).warehouses())[0].warehouse_id
            await ShipmentRepository(connection, SCHEMA).insert_shipment(
                shipment_id,
                order_id=order_id,
                warehouse_id=warehouse,
                status=ShipmentStatus.REQUESTED,
                lines=[NamedLine("SKU-1", "One", 2)],
                ship_to=ADDRESS,
                shipping_service="standard",
            )
            await SqlLockAhead(connection, SCHEMA).lock_ahead(
                orders=[order_id], read_shipments=True
            )

            connection.add_query_logger(logged)
            shipments = ShipmentRepository(connection, SCHEMA)  # a handler's
            (listed,) = await shipments.shipments_of(order_id)
            locked = await shipments.lock_shipment(shipment_id)
            await asyncio.sleep(0)  # query loggers are called soon, not at once
            assert sent == [], "the locked order's shipments came from the batch's read"
            assert locked == listed
            assert (listed.status, listed.lines) == (
                ShipmentStatus.REQUESTED,
                (NamedLine("SKU-1", "One", 2),),
            )
            assert await shipments.lock_shipment(uuid.uuid4()) is None
            await asyncio.sleep(0)
            assert len(sent) == 1, "a shipment of no locked order is asked for"

            await shipments.mark_dispatched(
                shipment_id, carrier="DHL", tracking_number="T-1", dispatched_at=flow_now()
            )
            (stored,) = await shipments.shipments_of(order_id)
            assert (stored.status, stored.tracking_number) == (ShipmentStatus.DISPATCHED, "T-1")
            again = await shipments.lock_shipment(shipment_id)
            assert again is not None
            assert again.status is ShipmentStatus.DISPATCHED
        finally:
            connection.remove_query_logger(logged)
            await transaction.rollback()


def flow_now() -> datetime:
    return datetime.now(UTC)

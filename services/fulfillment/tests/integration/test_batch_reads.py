"""A transaction reads the warehouses once, until it writes one. A batch's lock_ahead reads
the orders it locks, and its handlers' ``lock_order`` gets them without a query until the
batch writes them: what it wrote is read back from the database (so a write undone with a
record's savepoint is never handed out). An order that did not exist at the lock is always
read from the database: another transaction may have placed it since. So are the shipments
of the locked orders, when the batch asks for them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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

from services.fulfillment.tests.integration.flow import SCHEMA, Flow, new_sku

pytestmark = pytest.mark.integration

ADDRESS = PostalAddress(
    recipient_name="Ada", line1="1 Main St", city="Berlin", postal_code="10115", country="DE"
)


@dataclass
class Transaction:
    """A transaction rolled back at the end, and the statements it sent once ``watch``ed."""

    connection: Any
    sent: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.connection.add_query_logger(self._logged)

    def unwatch(self) -> None:
        self.connection.remove_query_logger(self._logged)

    def _logged(self, record: Any) -> None:
        self.sent.append(record.query)

    async def sent_so_far(self) -> list[str]:
        await asyncio.sleep(0)  # query loggers are called soon, not at once
        return self.sent


@asynccontextmanager
async def rolled_back(flow: Flow) -> AsyncIterator[Transaction]:
    async with flow.runtime.pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        kept = Transaction(connection)
        try:
            yield kept
        finally:
            kept.unwatch()
            await transaction.rollback()


async def placed_order(connection: Any, status: OrderStatus) -> uuid.UUID:
    order_id = uuid.uuid4()
    await OrderRepository(connection, SCHEMA).insert_order(
        order_id,
        status=status,
        ship_to=ADDRESS,
        shipping_service="standard",
        correlation_id="batch-reads",
    )
    return order_id


async def test_a_batch_reads_its_locked_orders_once_and_reads_its_own_writes_back(
    flow: Flow,
) -> None:
    async with rolled_back(flow) as tx:
        placed, absent = await placed_order(tx.connection, OrderStatus.RESERVED), uuid.uuid4()
        await SqlLockAhead(tx.connection, SCHEMA).lock_ahead(orders=[placed, absent])

        tx.watch()
        orders = OrderRepository(tx.connection, SCHEMA)  # a handler's, one per record
        handed = await orders.lock_order(placed)
        assert handed is not None
        assert (handed.status, handed.ship_to) == (OrderStatus.RESERVED, ADDRESS)
        assert await orders.lock_order(placed) == handed
        assert await tx.sent_so_far() == [], "the locked order came from the batch's read"

        assert await orders.lock_order(absent) is None
        assert len(await tx.sent_so_far()) == 1, "an order missing at the lock is asked again"

        savepoint = tx.connection.transaction()  # a record's, whose handler then fails
        await savepoint.start()
        await orders.update_order(placed, OrderStatus.RELEASED, release_reason="undone")
        await savepoint.rollback()
        after_undo = await orders.lock_order(placed)
        assert after_undo is not None
        assert after_undo.status is OrderStatus.RESERVED, "the undone write is not handed out"

        await orders.update_order(placed, OrderStatus.RELEASED, release_reason="test")
        stored = await orders.lock_order(placed)
        assert stored is not None
        assert (stored.status, stored.release_reason) == (OrderStatus.RELEASED, "test")


async def test_a_transaction_reads_the_warehouses_once_until_it_writes_one(flow: Flow) -> None:
    async with rolled_back(flow) as tx:
        tx.watch()
        first = await StockRepository(tx.connection, SCHEMA).warehouses()
        again = await StockRepository(tx.connection, SCHEMA).warehouses()  # the next record's
        assert again == first
        assert len(await tx.sent_so_far()) == 1

        added = WarehouseEntry(id="BATCH-READS", name="Batch reads", country="DE")
        await StockRepository(tx.connection, SCHEMA).upsert_warehouse(added)
        after = await StockRepository(tx.connection, SCHEMA).warehouses()
        assert "BATCH-READS" in {w.warehouse_id for w in after}
        assert "BATCH-READS" not in {w.warehouse_id for w in first}


async def test_a_warehouse_loaded_meanwhile_is_read_once_its_stock_is_seen(flow: Flow) -> None:
    sku = new_sku("LATE")
    async with rolled_back(flow) as tx:
        stock = StockRepository(tx.connection, SCHEMA)
        before = {w.warehouse_id for w in await stock.warehouses()}
        late = await flow.warehouse("LATE", "DE", {sku: 5})  # committed by another session
        assert (late, sku) in await stock.availability([sku])
        assert late not in before
        assert late in {w.warehouse_id for w in await stock.warehouses()}


async def test_a_batch_reads_the_shipments_of_its_locked_orders_once(flow: Flow) -> None:
    async with rolled_back(flow) as tx:
        order_id = await placed_order(tx.connection, OrderStatus.FULFILLING)
        shipment_id = uuid.uuid4()
        warehouse = (await StockRepository(tx.connection, SCHEMA).warehouses())[0].warehouse_id
        await ShipmentRepository(tx.connection, SCHEMA).insert_shipment(
            shipment_id,
            order_id=order_id,
            warehouse_id=warehouse,
            status=ShipmentStatus.REQUESTED,
            lines=[NamedLine("SKU-1", "One", 2)],
            ship_to=ADDRESS,
            shipping_service="standard",
        )
        await SqlLockAhead(tx.connection, SCHEMA).lock_ahead(orders=[order_id], read_shipments=True)

        tx.watch()
        shipments = ShipmentRepository(tx.connection, SCHEMA)  # a handler's
        (listed,) = await shipments.shipments_of(order_id)
        locked = await shipments.lock_shipment(shipment_id)
        assert await tx.sent_so_far() == [], "the locked order's shipments came from the batch"
        assert locked == listed
        assert (listed.status, listed.lines) == (
            ShipmentStatus.REQUESTED,
            (NamedLine("SKU-1", "One", 2),),
        )
        assert await shipments.lock_shipment(uuid.uuid4()) is None
        assert len(await tx.sent_so_far()) == 1, "a shipment of no locked order is asked for"

        await shipments.mark_dispatched(
            shipment_id, carrier="DHL", tracking_number="T-1", dispatched_at=datetime.now(UTC)
        )
        (stored,) = await shipments.shipments_of(order_id)
        assert (stored.status, stored.tracking_number) == (ShipmentStatus.DISPATCHED, "T-1")
        again = await shipments.lock_shipment(shipment_id)
        assert again is not None
        assert again.status is ShipmentStatus.DISPATCHED

"""A warehouse report locks its shipment and reads it in one statement: the lock is real, and a
report that waited for it reads the shipment as the transaction it waited for left it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from orderflow_chassis.waiting import wait_at_most
from orderflow_fulfillment.adapters.shipments import ShipmentRepository
from orderflow_fulfillment.bootstrap import build_definition
from orderflow_fulfillment.domain.shipments import ShipmentStatus
from orderflow_fulfillment.ports import NamedLine, ShipmentRecord
from orderflow_localinfra.discovery import Infrastructure

from services.fulfillment.tests.builders import address
from services.fulfillment.tests.integration.conftest import fast_settings
from services.fulfillment.tests.integration.flow import SCHEMA, new_sku
from services.fulfillment.tests.integration.test_no_overselling import two_warehouses
from tests.support.service_harness import running_service, service_settings, unique_prefix

pytestmark = pytest.mark.integration


async def test_a_report_waits_for_the_shipments_lock_and_then_reads_it_as_left(
    orderflow_infrastructure: Infrastructure,
) -> None:
    settings = service_settings(
        orderflow_infrastructure, "fulfillment", topic_prefix=unique_prefix("shipment-lock")
    )
    definition = build_definition(settings, fulfillment=fast_settings())
    async with running_service(definition, settings) as runtime:  # migrated schema
        sku = new_sku("LOCKED")
        warehouse, _ = await two_warehouses(orderflow_infrastructure, sku)
        shipment_id, lines = uuid.uuid4(), (NamedLine(sku, "Ball", 2),)
        async with runtime.pool.acquire() as connection, connection.transaction():
            await ShipmentRepository(connection, SCHEMA).insert_shipment(
                shipment_id,
                order_id=uuid.uuid4(),
                warehouse_id=warehouse,
                status=ShipmentStatus.REQUESTED,
                lines=lines,
                ship_to=address("DE"),
                shipping_service="standard",
            )
        async with runtime.pool.acquire() as first, runtime.pool.acquire() as second:
            waited_for_it = asyncio.Event()

            async def second_report() -> ShipmentRecord | None:
                async with second.transaction():
                    waited_for_it.set()
                    return await ShipmentRepository(second, SCHEMA).lock_shipment(shipment_id)

            async with first.transaction():
                mine = await ShipmentRepository(first, SCHEMA).lock_shipment(shipment_id)
                assert mine is not None
                assert mine.status is ShipmentStatus.REQUESTED
                assert mine.lines == lines
                waiting = asyncio.create_task(second_report())
                await waited_for_it.wait()
                await asyncio.sleep(0.3)
                assert not waiting.done(), "the second report waits for the first one's lock"
                await ShipmentRepository(first, SCHEMA).mark_dispatched(
                    shipment_id,
                    carrier="DHL",
                    tracking_number="TRACK-1",
                    dispatched_at=datetime.now(UTC),
                )
            theirs = await wait_at_most(10, waiting)
        assert theirs is not None
        assert (theirs.status, theirs.tracking_number, theirs.lines) == (
            ShipmentStatus.DISPATCHED,
            "TRACK-1",
            lines,
        )

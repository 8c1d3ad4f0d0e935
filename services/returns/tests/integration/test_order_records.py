"""What returns records of an order, on real PostgreSQL: its lines (one per SKU, quantities and
totals summed) with the order, once; each delivered line once, however often it is reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_contracts.money import Currency, Money
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.adapters.orders import SqlOrders
from orderflow_returns.bootstrap import returns_migrations

from services.returns.tests.integration.returns_support import Order

pytestmark = pytest.mark.integration


async def test_an_order_is_recorded_once_with_one_line_per_sku_and_its_deliveries_once(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await connect(
        orderflow_infrastructure.service_database_urls["returns"], schema="returns"
    )
    # The schema as the service makes it: this test may be its worker's first to use it.
    await migrate_service(connection, "returns", returns_migrations())
    order = Order(lines=[("MB-SPIKY-8CM", 2, "9.25"), ("NS-NIGHT-M", 1, "36.94"),
                         ("MB-SPIKY-8CM", 1, "9.25")])  # fmt: skip
    placed, at = order.placed(), datetime.now(UTC)
    delivered = order.delivered(at, lines=[("MB-SPIKY-8CM", 3), ("NS-NIGHT-M", 1)])
    try:
        orders = SqlOrders(connection, "returns")
        async with connection.transaction():
            assert await orders.record_order(placed, at)
            assert not await orders.record_order(placed, at)  # the same order again
        assert await orders.ordered_units(order.order_id) == {"MB-SPIKY-8CM": 3, "NS-NIGHT-M": 1}
        snapshot = await orders.snapshot(order.order_id)
        assert snapshot is not None
        assert snapshot.lines["MB-SPIKY-8CM"].line_total == Money.of("27.75", Currency.EUR)
        assert snapshot.total == Money.of(order.total, Currency.EUR)

        lines = [(line.sku, line.quantity) for line in delivered.lines]
        async with connection.transaction():
            recorded = await orders.record_delivery(
                order.order_id, delivered.shipment_id, lines, at, replacement=False
            )
            again = await orders.record_delivery(
                order.order_id, delivered.shipment_id, lines, at, replacement=False
            )
        assert (recorded, again) == (True, False)
        assert sorted((d.sku, d.quantity) for d in await orders.deliveries(order.order_id)) == [
            ("MB-SPIKY-8CM", 3),
            ("NS-NIGHT-M", 1),
        ]
    finally:
        await connection.close()

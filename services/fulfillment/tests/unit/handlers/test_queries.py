"""What ops read: stock levels, an order's shipments, anomalies (newest first)."""

from __future__ import annotations

import uuid

import pytest
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers.queries import (
    order_fulfillment,
    recorded_anomalies,
    stock_levels,
)
from orderflow_fulfillment.ports import StockLevel

from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import place_and_capture


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"GEL": 10, "SOCK": 1})
    fake.stock.add_warehouse("US", "US", {"GEL": 4})
    return fake


async def test_stock_levels_show_available_units_and_filter_by_sku_or_warehouse(
    fulfillment: FakeFulfillment,
) -> None:
    await place_and_capture(fulfillment, {"GEL": 3})

    async with fulfillment.transactions.begin(read_only=True) as uow:
        everything = await stock_levels(None, None, uow)
        gel = await stock_levels("GEL", None, uow)
        us = await stock_levels(None, "US", uow)

    assert [(s.warehouse_id, s.sku) for s in everything] == [
        ("EU", "GEL"),
        ("EU", "SOCK"),
        ("US", "GEL"),
    ]
    assert gel[0] == StockLevel("EU", "GEL", on_hand=10, reserved=3, counted_at=None)
    assert gel[0].available == 7
    assert [s.warehouse_id for s in gel] == ["EU", "US"]
    assert [(s.sku, s.available) for s in us] == [("GEL", 4)]


async def test_an_order_is_shown_with_its_shipments_and_an_unknown_one_is_none(
    fulfillment: FakeFulfillment,
) -> None:
    order_id, [request] = await place_and_capture(fulfillment, {"GEL": 2})

    async with fulfillment.transactions.begin(read_only=True) as uow:
        found = await order_fulfillment(order_id, uow)
        unknown = await order_fulfillment(uuid.uuid4(), uow)

    assert found is not None
    assert (found.order.order_id, found.order.status) == (order_id, OrderStatus.FULFILLING)
    [shipment] = found.shipments
    assert (shipment.shipment_id, shipment.status) == (
        request.shipment_id,
        ShipmentStatus.REQUESTED,
    )
    assert unknown is None


async def test_anomalies_are_listed_newest_first_with_ids_as_text(
    fulfillment: FakeFulfillment,
) -> None:
    anomalies = fulfillment.anomalies
    shipment_id = uuid.uuid4()
    await anomalies.record(AnomalyReason.UNKNOWN_SHIPMENT, shipment_id=shipment_id)
    await anomalies.record(AnomalyReason.STALE_COUNT, warehouse_id="EU", sku="GEL")
    await anomalies.record(AnomalyReason.UNKNOWN_SHIPMENT, shipment_id=uuid.uuid4())

    async with fulfillment.transactions.begin(read_only=True) as uow:
        newest = await recorded_anomalies(None, 2, uow)
        unknown = await recorded_anomalies("unknown_shipment", 100, uow)

    assert [row["reason"] for row in newest] == ["unknown_shipment", "stale_count"]
    assert [row["reason"] for row in unknown] == ["unknown_shipment", "unknown_shipment"]
    assert unknown[-1]["shipment_id"] == str(shipment_id)

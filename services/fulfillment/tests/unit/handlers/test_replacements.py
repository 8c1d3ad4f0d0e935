"""Warranty replacements ship at no charge at once, or wait for stock and ship when it comes."""

from __future__ import annotations

import uuid

import pytest
from orderflow_contracts.events import FulfillmentRequested, ShipmentLine, StockReserved
from orderflow_fulfillment.domain.shipments import AnomalyReason, ShipmentStatus
from orderflow_fulfillment.handlers.replacements import (
    retry_backordered_replacements,
    ship_replacement,
)

from services.fulfillment.tests.builders import address, replacement_requested
from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import SETTINGS, place_and_capture

CLAIM_JOURNEY = "journey-claim"


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"SPLINT": 2}, near=["FR"])
    return fake


async def request_replacement(
    fulfillment: FakeFulfillment, order_id: uuid.UUID, claim_id: str, lines: dict[str, int]
) -> None:
    requested = replacement_requested(order_id, claim_id, lines, country="FR")
    unit = fulfillment.unit(requested, correlation_id=CLAIM_JOURNEY)
    await ship_replacement(requested, unit, settings=SETTINGS)


async def retry(fulfillment: FakeFulfillment) -> int:
    return await retry_backordered_replacements(fulfillment.transactions, settings=SETTINGS)


async def test_a_replacement_is_reserved_and_requested_at_once_without_a_payment(
    fulfillment: FakeFulfillment,
) -> None:
    order_id, [original] = await place_and_capture(fulfillment, {"SPLINT": 1})

    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})

    [_, replacement] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert replacement.order_id == order_id
    assert replacement.shipment_id != original.shipment_id
    assert replacement.replacement is True
    assert replacement.warranty_claim_id == "claim-1"
    assert replacement.shipping_service == "express"
    assert replacement.ship_to == address("FR")
    assert replacement.lines == [ShipmentLine(sku="SPLINT", name="Product SPLINT", quantity=1)]
    assert fulfillment.emitted.envelopes[-1].correlation_id == CLAIM_JOURNEY
    assert len(fulfillment.emitted.of_type(StockReserved)) == 1, "nothing to capture"
    assert fulfillment.stock.level("EU", "SPLINT") == (2, 2)
    shipment = fulfillment.shipments.shipments[replacement.shipment_id]
    assert (shipment.status, shipment.claim_id) == (ShipmentStatus.REQUESTED, "claim-1")
    assert fulfillment.shipments.stamps[replacement.shipment_id] == {
        "requested_at": fulfillment.clock.now()
    }
    stored = fulfillment.replacements.replacements[order_id, "claim-1"]
    assert (stored.status, stored.record.attempts) == ("requested", 1)


async def test_a_claim_requested_twice_ships_one_replacement(fulfillment: FakeFulfillment) -> None:
    order_id = uuid.uuid4()

    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})
    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})

    assert len(fulfillment.emitted.of_type(FulfillmentRequested)) == 1
    assert fulfillment.stock.level("EU", "SPLINT") == (2, 1)
    # An order fulfillment never saw: the SKU is the name (nothing better is known).
    [request] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert request.lines == [ShipmentLine(sku="SPLINT", name="SPLINT", quantity=1)]


async def test_a_replacement_without_stock_waits_and_ships_once_stock_is_back(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = uuid.uuid4()

    await request_replacement(fulfillment, order_id, "claim-9", {"SPLINT": 3})

    assert fulfillment.emitted.envelopes == []
    [backordered] = fulfillment.anomalies.of(AnomalyReason.REPLACEMENT_BACKORDERED)
    assert backordered["detail"] == {
        "claim_id": "claim-9",
        "short_lines": [{"sku": "SPLINT", "requested": 3, "available": 2}],
    }
    assert await retry(fulfillment) == 0
    assert len(fulfillment.anomalies.rows) == 1, "a retry's shortage is not recorded again"
    stored = fulfillment.replacements.replacements[order_id, "claim-9"]
    assert (stored.status, stored.record.attempts) == ("awaiting_stock", 2)

    fulfillment.stock.rows["EU", "SPLINT"].on_hand = 5  # a restock or a count came in

    assert await retry(fulfillment) == 1
    [request] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert (request.replacement, request.warranty_claim_id) == (True, "claim-9")
    assert request.lines == [ShipmentLine(sku="SPLINT", name="SPLINT", quantity=3)]
    [envelope] = fulfillment.emitted.envelopes
    assert (envelope.correlation_id, envelope.causation_id) == (CLAIM_JOURNEY, None)
    assert fulfillment.stock.level("EU", "SPLINT") == (5, 3)
    assert fulfillment.replacements.replacements[order_id, "claim-9"].status == "requested"
    assert await retry(fulfillment) == 0, "a requested replacement is not retried"

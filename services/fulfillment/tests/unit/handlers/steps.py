"""Steps of an order's journey through fulfillment's use cases, on the in-memory fakes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from orderflow_contracts.events import FulfillmentRequested, StockReserved
from orderflow_fulfillment.handlers.fulfillment_requests import request_fulfillment
from orderflow_fulfillment.handlers.reservations import reserve_stock
from orderflow_fulfillment.settings import FulfillmentSettings

from services.fulfillment.tests.builders import order_placed, payment_captured
from services.fulfillment.tests.fakes import FakeFulfillment

SETTINGS = FulfillmentSettings(
    seed_file="",
    reservation_ttl_s=600,
    shipping_service="standard",
    replacement_shipping_service="express",
)

ORDER_JOURNEY = "journey-order"


async def place(
    fulfillment: FakeFulfillment, lines: Mapping[str, int], country: str = "DE"
) -> uuid.UUID:
    """An OrderPlaced applied; returns the order id."""
    order_id = uuid.uuid4()
    placed = order_placed(order_id, lines, country)
    unit = fulfillment.unit(placed, correlation_id=ORDER_JOURNEY)
    await reserve_stock(placed, unit, settings=SETTINGS)
    return order_id


async def place_and_capture(
    fulfillment: FakeFulfillment, lines: Mapping[str, int], country: str = "DE"
) -> tuple[uuid.UUID, list[FulfillmentRequested]]:
    """An order reserved and paid: the warehouse requests it caused."""
    order_id = await place(fulfillment, lines, country)
    assert [e.order_id for e in fulfillment.emitted.of_type(StockReserved)][-1] == order_id
    before = len(fulfillment.emitted.of_type(FulfillmentRequested))
    await capture(fulfillment, order_id)
    return order_id, fulfillment.emitted.of_type(FulfillmentRequested)[before:]


async def capture(fulfillment: FakeFulfillment, order_id: uuid.UUID) -> None:
    """A PaymentCaptured applied."""
    captured = payment_captured(order_id)
    await request_fulfillment(captured, fulfillment.unit(captured))

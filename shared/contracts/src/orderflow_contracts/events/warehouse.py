"""Warehouse events (`warehouse.events`): what warehouse systems report to Orderflow.

This is the contract a real warehouse system integrates against. Keys: `shipment_id` for
parcels sent to customers, `rma_id` for returned parcels, `warehouse_id` for stock counts. Ids
echo what Orderflow sent (`FulfillmentRequested.shipment_id`, `ReturnAuthorized.rma_id`).
Published by warehouse systems (and the warehouse simulator); consumed by fulfillment, and by
returns for returned parcels.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from orderflow_contracts import topics
from orderflow_contracts.events.base import Event
from orderflow_contracts.events.common import (
    PER_SKU_DESCRIPTION,
    UNITS_PER_SKU,
    ReturnedLine,
    RmaId,
    ShipmentId,
)
from orderflow_contracts.primitives import Name, Sku, StockLevel, UtcDatetime, WarehouseId


class ParcelDispatched(Event):
    """The warehouse handed the shipment's parcel to a carrier.

    Published by a warehouse system; consumed by fulfillment (-> `ShipmentDispatched`).
    """

    topic: ClassVar[str] = topics.WAREHOUSE_EVENTS
    key_field: ClassVar[str] = "shipment_id"

    shipment_id: ShipmentId
    warehouse_id: WarehouseId
    carrier: Name
    tracking_number: Name
    dispatched_at: UtcDatetime


class ParcelDelivered(Event):
    """The carrier delivered the shipment's parcel to the customer.

    Published by a warehouse system; consumed by fulfillment (-> `ShipmentDelivered`).
    """

    topic: ClassVar[str] = topics.WAREHOUSE_EVENTS
    key_field: ClassVar[str] = "shipment_id"

    shipment_id: ShipmentId
    delivered_at: UtcDatetime


class ReturnParcelReceived(Event):
    """A customer's return parcel arrived and was inspected; each line says how many units
    came back and in what condition (`resellable` or `damaged`).

    Published by a warehouse system; consumed by returns (-> `RefundRequested`) and
    fulfillment (restock resellable units, write off damaged ones).
    """

    topic: ClassVar[str] = topics.WAREHOUSE_EVENTS
    key_field: ClassVar[str] = "rma_id"

    rma_id: RmaId
    warehouse_id: WarehouseId
    lines: Annotated[
        list[ReturnedLine],
        Field(min_length=1, description=PER_SKU_DESCRIPTION + " (all conditions together)"),
        UNITS_PER_SKU,
    ]
    received_at: UtcDatetime


class StockCounted(Event):
    """A physical count: `warehouse_id` holds `on_hand` units of `sku` (replaces the figure
    fulfillment had; reserved units are part of on-hand).

    Published by a warehouse system; consumed by fulfillment.
    """

    topic: ClassVar[str] = topics.WAREHOUSE_EVENTS
    key_field: ClassVar[str] = "warehouse_id"

    warehouse_id: WarehouseId
    sku: Sku
    on_hand: StockLevel
    counted_at: UtcDatetime

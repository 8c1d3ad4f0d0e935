"""Fulfillment events (`fulfillment`, keyed by order_id).

`FulfillmentRequested` is the contract with warehouse systems; the other events tell the rest of
the system where an order's goods are. All are published by fulfillment.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from orderflow_contracts import topics
from orderflow_contracts.events.base import Event
from orderflow_contracts.events.common import (
    PER_SKU_DESCRIPTION,
    UNITS_PER_SKU,
    ClaimId,
    LineQuantity,
    OrderId,
    PostalAddress,
    RmaId,
    ShipmentId,
    ShortLine,
    StockAllocation,
)
from orderflow_contracts.primitives import (
    Name,
    ReasonCode,
    UtcDatetime,
    WarehouseId,
    known_codes,
)

ShippingService = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$"),
    Field(description="The delivery service level, e.g. 'standard' or 'express'."),
]


class ShipmentLine(LineQuantity):
    """Units of one SKU in a shipment, with the product name for the packing slip."""

    name: Name


class StockReserved(Event):
    """Every line of the order is held in stock (possibly across several warehouses, which
    will make several shipments). The hold lapses at `expires_at` unless payment is captured.

    Published by fulfillment (answering `OrderPlaced`); consumed by payment (capture once also
    authorised), the cart service and ops.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    allocations: Annotated[list[StockAllocation], Field(min_length=1)]
    expires_at: UtcDatetime | None = None


class StockUnavailable(Event):
    """The order cannot be served: nothing was reserved. `short_lines` lists each line that
    lacks stock across all warehouses.

    Published by fulfillment (answering `OrderPlaced`); consumed by payment (voids), the cart
    service (cancels the order), the storefront and ops.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    short_lines: Annotated[list[ShortLine], Field(min_length=1)]


class ReservationReleaseReason(StrEnum):
    """Reason codes of `ReservationReleased` (an open list)."""

    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_VOIDED = "payment_voided"
    ORDER_CANCELLED = "order_cancelled"
    EXPIRED = "expired"


class ReservationReleased(Event):
    """Internal (added to the v1 table): the order's held stock went back to available, because
    payment was declined, the order was cancelled, or no payment outcome arrived in time.
    An expired reservation must not be captured against: payment voids on this event.

    Published by fulfillment; consumed by payment, the cart service and ops.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    reason: ReasonCode = known_codes(ReservationReleaseReason)
    allocations: list[StockAllocation]


class FulfillmentRequested(Event):
    """A warehouse is asked to pick, pack and ship one shipment. An order split across
    warehouses gets one request per shipment. `replacement` is true for a warranty replacement
    shipped at no charge (then `warranty_claim_id` says which claim).

    Published by fulfillment once payment is captured (or a replacement is requested);
    consumed by the warehouse system named by `warehouse_id` (others ignore it), ops.
    The warehouse answers on `warehouse.events` with `ParcelDispatched` and `ParcelDelivered`
    carrying the same `shipment_id`.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    shipment_id: ShipmentId
    warehouse_id: WarehouseId
    lines: Annotated[list[ShipmentLine], Field(min_length=1)]
    ship_to: PostalAddress
    shipping_service: ShippingService
    replacement: bool = False
    warranty_claim_id: ClaimId | None = None


class ShipmentDispatched(Event):
    """A shipment left the warehouse with a carrier.

    Published by fulfillment (from the warehouse's `ParcelDispatched`); consumed by the
    storefront (tracking) and ops.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    shipment_id: ShipmentId
    warehouse_id: WarehouseId
    carrier: Name
    tracking_number: Name
    dispatched_at: UtcDatetime


class ShipmentDelivered(Event):
    """A shipment reached the customer. `lines` are what it contained: the return window of
    those units runs for 30 calendar days after the day of `delivered_at` (in the store's time
    zone, UTC by default; see the returns service).

    Published by fulfillment (from the warehouse's `ParcelDelivered`); consumed by returns
    (return window, warranty), the storefront and ops.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    shipment_id: ShipmentId
    lines: Annotated[
        list[LineQuantity], Field(min_length=1, description=PER_SKU_DESCRIPTION), UNITS_PER_SKU
    ]
    delivered_at: UtcDatetime
    replacement: bool = False


class ReturnRestocked(Event):
    """Internal (added to the v1 table): a returned parcel was processed. Resellable units went
    back to available stock in `warehouse_id`; damaged units were written off.

    Published by fulfillment (from the warehouse's `ReturnParcelReceived`); consumed by ops.
    """

    topic: ClassVar[str] = topics.FULFILLMENT
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    rma_id: RmaId
    warehouse_id: WarehouseId
    restocked: list[LineQuantity]
    written_off: list[LineQuantity]

"""Order and shipment states, and what a warehouse report may do to a shipment.

```
reserved --PaymentCaptured--> requested --Dispatched--> dispatched --Delivered--> delivered
   |                              |                                                   ^
   |                              +----- ParcelDelivered (implies the dispatch) ------+
   +-- PaymentDeclined / PaymentVoided / OrderCancelled / expiry --> released
```

A replacement shipment is created directly in ``requested`` (no payment to wait for).

Every report that does not fit the shipment's state changes nothing it should not, and is
recorded as an :class:`Anomaly` with a reason ops can filter by. Delivered-before-dispatched
is *accepted*: the customer has the parcel, so the units left the warehouse (stock is
decremented then) and the delivery counts towards completing the order; no
``ShipmentDispatched`` is invented without a carrier and tracking number. A dispatch report
arriving after that only fills in the carrier and tracking number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar


class OrderStatus(StrEnum):
    RESERVED = "reserved"  # stock held, waiting for a payment outcome
    UNAVAILABLE = "unavailable"  # StockUnavailable was published; nothing held
    RELEASED = "released"  # held stock went back (declined, voided, cancelled, expired)
    FULFILLING = "fulfilling"  # captured: shipments requested from warehouses
    COMPLETED = "completed"  # every (non-replacement) shipment delivered


class ShipmentStatus(StrEnum):
    RESERVED = "reserved"
    REQUESTED = "requested"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    RELEASED = "released"


class AnomalyReason(StrEnum):
    """Why an event was not applied as it came (the ``anomalies`` table's ``reason``)."""

    UNKNOWN_SHIPMENT = "unknown_shipment"
    UNKNOWN_ORDER = "unknown_order"
    UNKNOWN_RMA = "unknown_rma"
    NOT_REQUESTED = "shipment_not_requested"
    WAREHOUSE_MISMATCH = "warehouse_mismatch"
    DUPLICATE_DISPATCH = "duplicate_dispatch"
    CONFLICTING_DISPATCH = "conflicting_dispatch"
    DELIVERED_BEFORE_DISPATCHED = "delivered_before_dispatched"
    DISPATCHED_AFTER_DELIVERED = "dispatched_after_delivered"
    DUPLICATE_DELIVERY = "duplicate_delivery"
    DUPLICATE_RETURN_PARCEL = "duplicate_return_parcel"
    RETURN_WAREHOUSE_MISMATCH = "return_warehouse_mismatch"
    RETURNED_MORE_THAN_AUTHORISED = "returned_more_than_authorised"
    RMA_CONFLICT = "rma_conflict"
    COUNT_BELOW_RESERVED = "count_below_reserved"
    UNKNOWN_SKU = "unknown_sku"  # warehouse input about a SKU no warehouse stocks
    STALE_COUNT = "stale_count"
    # Over an hour ahead of our clock: a movement is taken as made now, a count is dropped.
    CLOCK_AHEAD = "clock_ahead"
    # Over an hour before the shipment was requested (or a delivery before its dispatch):
    # impossible, so the movement is taken as made at the earliest time it could have been.
    CLOCK_BEHIND = "clock_behind"
    CAPTURED_AFTER_RELEASE = "captured_after_release"
    CAPTURED_WITHOUT_STOCK = "captured_without_stock"
    CANCELLED_AFTER_FULFILLMENT_REQUESTED = "cancelled_after_fulfillment_requested"
    REPLACEMENT_BACKORDERED = "replacement_backordered"


class DispatchAction(StrEnum):
    DISPATCH = "dispatch"  # stock leaves, publish ShipmentDispatched
    RECORD_TRACKING = "record_tracking"  # delivered already: keep carrier and tracking only
    IGNORE = "ignore"


class DeliveryAction(StrEnum):
    DELIVER = "deliver"  # publish ShipmentDelivered
    DELIVER_IMPLYING_DISPATCH = "deliver_implying_dispatch"  # stock leaves now, then deliver
    IGNORE = "ignore"


ActionT = TypeVar("ActionT", bound=StrEnum)


@dataclass(frozen=True)
class Decision(Generic[ActionT]):
    action: ActionT
    anomaly: AnomalyReason | None = None


def decide_dispatch(
    status: ShipmentStatus,
    *,
    shipment_warehouse: str,
    reported_warehouse: str,
    known_tracking: str | None,
    reported_tracking: str,
) -> Decision[DispatchAction]:
    if reported_warehouse != shipment_warehouse:
        return Decision(DispatchAction.IGNORE, AnomalyReason.WAREHOUSE_MISMATCH)
    match status:
        case ShipmentStatus.REQUESTED:
            return Decision(DispatchAction.DISPATCH)
        case ShipmentStatus.DISPATCHED:
            same = known_tracking == reported_tracking
            reason = (
                AnomalyReason.DUPLICATE_DISPATCH if same else AnomalyReason.CONFLICTING_DISPATCH
            )
            return Decision(DispatchAction.IGNORE, reason)
        case ShipmentStatus.DELIVERED:
            if known_tracking is None:
                return Decision(
                    DispatchAction.RECORD_TRACKING, AnomalyReason.DISPATCHED_AFTER_DELIVERED
                )
            same = known_tracking == reported_tracking
            reason = (
                AnomalyReason.DUPLICATE_DISPATCH if same else AnomalyReason.CONFLICTING_DISPATCH
            )
            return Decision(DispatchAction.IGNORE, reason)
        case _:  # reserved (not paid yet) or released: the warehouse was never asked
            return Decision(DispatchAction.IGNORE, AnomalyReason.NOT_REQUESTED)


def decide_delivery(status: ShipmentStatus) -> Decision[DeliveryAction]:
    match status:
        case ShipmentStatus.DISPATCHED:
            return Decision(DeliveryAction.DELIVER)
        case ShipmentStatus.REQUESTED:
            return Decision(
                DeliveryAction.DELIVER_IMPLYING_DISPATCH, AnomalyReason.DELIVERED_BEFORE_DISPATCHED
            )
        case ShipmentStatus.DELIVERED:
            return Decision(DeliveryAction.IGNORE, AnomalyReason.DUPLICATE_DELIVERY)
        case _:
            return Decision(DeliveryAction.IGNORE, AnomalyReason.NOT_REQUESTED)


def order_is_complete(shipment_statuses: list[tuple[ShipmentStatus, bool]]) -> bool:
    """True when every original (non-replacement) shipment is delivered.

    ``shipment_statuses`` holds (status, is_replacement) for each shipment of the order.
    Replacements shipped later never reopen or complete an order.
    """
    originals = [status for status, replacement in shipment_statuses if not replacement]
    return bool(originals) and all(s is ShipmentStatus.DELIVERED for s in originals)

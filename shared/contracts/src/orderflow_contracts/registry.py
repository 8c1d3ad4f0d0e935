"""The registry of event types: name -> class, and topic -> classes, built from the classes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from orderflow_contracts import events
from orderflow_contracts.events.base import Event
from orderflow_contracts.topics import ALL_TOPICS

ALL_EVENTS: Final[tuple[type[Event], ...]] = (
    # storefront.carts
    events.CartItemAdded,
    events.CartItemRemoved,
    events.CartItemQuantityChanged,
    events.CartCurrencySelected,
    events.CheckoutRequested,
    # carts
    events.CheckoutRejected,
    events.CartCheckedOut,
    events.CartAbandoned,
    # orders
    events.OrderPlaced,
    events.OrderCancelled,
    events.OrderCompleted,
    # payments
    events.PaymentAuthorized,
    events.PaymentDeclined,
    events.PaymentCaptured,
    events.PaymentVoided,
    events.RefundIssued,
    events.RefundFailed,
    # fulfillment
    events.StockReserved,
    events.StockUnavailable,
    events.ReservationReleased,
    events.FulfillmentRequested,
    events.ShipmentDispatched,
    events.ShipmentDelivered,
    events.ReturnRestocked,
    # warehouse.events
    events.ParcelDispatched,
    events.ParcelDelivered,
    events.ReturnParcelReceived,
    events.StockCounted,
    # storefront.returns
    events.ReturnRequested,
    events.WarrantyClaimFiled,
    # returns
    events.ReturnAuthorized,
    events.ReturnRejected,
    events.RefundRequested,
    events.ReturnRefundStopped,
    events.WarrantyClaimAccepted,
    events.ReplacementRequested,
    events.WarrantyClaimRejected,
)


def _by_name() -> Mapping[str, type[Event]]:
    registry: dict[str, type[Event]] = {}
    for event_class in ALL_EVENTS:
        if event_class.event_type in registry:
            raise RuntimeError(f"event type {event_class.event_type} is defined twice")
        registry[event_class.event_type] = event_class
    return MappingProxyType(registry)


def _by_topic() -> Mapping[str, tuple[type[Event], ...]]:
    return MappingProxyType(
        {topic: tuple(cls for cls in ALL_EVENTS if cls.topic == topic) for topic in ALL_TOPICS}
    )


EVENT_TYPES: Final[Mapping[str, type[Event]]] = _by_name()
"""Every v1 event class by its `event_type`."""

EVENTS_BY_TOPIC: Final[Mapping[str, tuple[type[Event], ...]]] = _by_topic()
"""The event classes published on each topic, in contract order."""


def event_class(event_type: str) -> type[Event] | None:
    """The class of `event_type`, or None when the contract does not define it."""
    return EVENT_TYPES.get(event_type)

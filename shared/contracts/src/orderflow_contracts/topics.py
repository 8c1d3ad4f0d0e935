"""Every Kafka topic of the contract, in one place (see "Topics, keys and events" in
shared/contracts/README.md).

Each message is keyed by its aggregate id (the `key` column below) so that one aggregate's
events stay in one partition, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

STOREFRONT_CARTS: Final = "storefront.carts"
"""Storefront -> cart: cart edits and checkout requests. Key: cart_id."""

CARTS: Final = "carts"
"""Cart -> storefront, ops: checkout outcomes, abandoned carts. Key: cart_id."""

ORDERS: Final = "orders"
"""Order lifecycle (placed and cancelled by cart, completed by fulfillment). Key: order_id."""

PAYMENTS: Final = "payments"
"""Payment -> all: authorisations, captures, voids, refunds. Key: order_id."""

FULFILLMENT: Final = "fulfillment"
"""Fulfillment -> warehouses, all: reservations, warehouse requests, shipments. Key: order_id."""

WAREHOUSE_EVENTS: Final = "warehouse.events"
"""Warehouse systems -> fulfillment, returns: parcels and stock counts. Key: shipment_id,
rma_id, or warehouse_id for stock counts."""

STOREFRONT_RETURNS: Final = "storefront.returns"
"""Storefront -> returns: return requests and warranty claims. Key: order_id."""

RETURNS: Final = "returns"
"""Returns -> all: RMAs, refund requests, warranty decisions and replacement requests.
Key: order_id."""

EXTERNAL_TOPICS: Final = frozenset({STOREFRONT_CARTS, WAREHOUSE_EVENTS, STOREFRONT_RETURNS})
"""The topics parties outside Orderflow write (storefronts, warehouse systems): only the
envelope counts there; a header is whatever their client sent (copied from an input record,
say), never a statement about the event."""

ALL_TOPICS: Final[tuple[str, ...]] = (
    STOREFRONT_CARTS,
    CARTS,
    ORDERS,
    PAYMENTS,
    FULFILLMENT,
    WAREHOUSE_EVENTS,
    STOREFRONT_RETURNS,
    RETURNS,
)


@dataclass(frozen=True)
class TopicSpec:
    """What a topic carries, for documentation (README, AsyncAPI)."""

    name: str
    key: str
    producers: str
    consumers: str
    summary: str


TOPIC_SPECS: Final[Mapping[str, TopicSpec]] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            TopicSpec(
                STOREFRONT_CARTS,
                "cart_id",
                "storefront",
                "cart",
                "Cart edits and checkout requests from the storefront. Never carries prices.",
            ),
            TopicSpec(
                CARTS,
                "cart_id",
                "cart",
                "storefront, cart (order status), ops",
                "Checkout outcomes (rejected with every reason, or checked out into an order) "
                "and abandoned carts.",
            ),
            TopicSpec(
                ORDERS,
                "order_id",
                "cart (OrderPlaced, OrderCancelled), fulfillment (OrderCompleted)",
                "all",
                "The order lifecycle; OrderPlaced is the full priced snapshot.",
            ),
            TopicSpec(
                PAYMENTS,
                "order_id",
                "payment",
                "all",
                "Authorisations, declines, captures, voids and refunds, with exact amounts.",
            ),
            TopicSpec(
                FULFILLMENT,
                "order_id",
                "fulfillment",
                "warehouses, all",
                "Stock reservations, warehouse requests (one per shipment) and shipment progress.",
            ),
            TopicSpec(
                WAREHOUSE_EVENTS,
                "shipment_id, rma_id, or warehouse_id (StockCounted)",
                "warehouse systems",
                "fulfillment, returns",
                "What happens to parcels in the physical world, and stock counts.",
            ),
            TopicSpec(
                STOREFRONT_RETURNS,
                "order_id",
                "storefront",
                "returns",
                "Return requests and warranty claims from customers.",
            ),
            TopicSpec(
                RETURNS,
                "order_id",
                "returns",
                "all",
                "Return authorisations and rejections, refund requests (or why none follows a "
                "parcel), warranty decisions and the replacement requests of accepted claims.",
            ),
        )
    }
)

DEAD_LETTER_SUFFIX: Final = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`: `orders` -> `orders.dlq`."""
    if not topic or topic.endswith(DEAD_LETTER_SUFFIX):
        raise ValueError(f"{topic!r} has no dead-letter topic")
    return f"{topic}{DEAD_LETTER_SUFFIX}"
